/**
 * The phone's camera and microphone for a live inspection: the rear camera
 * first (facingMode "environment"), a switch to the other camera, and the
 * torch where the track offers it (MediaTrackCapabilities.torch, Chrome on
 * Android). Another camera is another track; the publisher swaps it into
 * the running connection with RTCRtpSender.replaceTrack, so the call is not
 * renegotiated and the recording does not start a new segment.
 */

const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
// 720p is plenty to read a fire extinguisher's label and keeps the upload
// within what a phone on 4G sustains; the browser adapts it down on bad links.
const SIZE = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } };

const gum = (constraints) => navigator.mediaDevices.getUserMedia(constraints);

/** hasCamera says whether this page may ask for the camera at all (a secure context with mediaDevices). */
export function hasCamera() {
  return Boolean(window.isSecureContext && navigator.mediaDevices?.getUserMedia);
}

/**
 * camera returns {open, switchCamera, setTorch, stop, stream(), video(),
 * audio(), canSwitch(), hasTorch(), torchOn(), front()}. onEnded runs when
 * the system takes the camera away (another app, a revoked permission).
 */
export function camera({ onEnded = () => {} } = {}) {
  let video = null;
  let audio = null;
  let stream = null;
  let cameras = 0;
  let torch = false;

  const ended = () => onEnded();

  function useVideo(track) {
    if (video) video.removeEventListener('ended', ended);
    if (video && stream) stream.removeTrack(video);
    video = track;
    // 'detail': the encoder keeps edges and text sharp (labels, licences)
    // rather than motion smooth.
    if ('contentHint' in video) video.contentHint = 'detail';
    torch = false;
    video.addEventListener('ended', ended);
    stream.addTrack(video);
  }

  async function countCameras() {
    try {
      cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput').length;
    } catch {
      cameras = 0;
    }
  }

  /** open starts the rear camera and the microphone; without a microphone it films silently. */
  async function open() {
    stop();
    const wanted = { ...SIZE, facingMode: { ideal: 'environment' } };
    let s;
    try {
      s = await gum({ video: wanted, audio: AUDIO });
    } catch {
      // No microphone, a busy one, or sound refused: film without sound rather than not at all.
      s = await gum({ video: wanted });
    }
    stream = new MediaStream();
    audio = s.getAudioTracks()[0] || null;
    if (audio) stream.addTrack(audio);
    useVideo(s.getVideoTracks()[0]);
    await countCameras(); // device labels and counts are only complete after permission
    return stream;
  }

  /**
   * switchCamera opens the next camera and returns its track: the other
   * facing on phones, the next device elsewhere. The old camera is stopped
   * first because many phones cannot run two at once; if no other camera
   * opens, the old one is opened again and the error is thrown.
   */
  async function switchCamera() {
    const was = video.getSettings();
    const tries = [];
    if (was.facingMode) tries.push({ ...SIZE, facingMode: { exact: was.facingMode === 'user' ? 'environment' : 'user' } });
    try {
      const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
      const i = devices.findIndex((d) => d.deviceId === was.deviceId);
      const next = devices[(i + 1) % devices.length];
      if (next && next.deviceId && next.deviceId !== was.deviceId) tries.push({ ...SIZE, deviceId: { exact: next.deviceId } });
    } catch { /* only the facing switch to try */ }
    video.stop();
    let lastErr = new Error('no other camera');
    for (const constraints of tries) {
      try {
        const track = (await gum({ video: constraints })).getVideoTracks()[0];
        useVideo(track);
        return track;
      } catch (err) {
        lastErr = err;
      }
    }
    const back = was.deviceId ? { ...SIZE, deviceId: { exact: was.deviceId } } : { ...SIZE, facingMode: { ideal: 'environment' } };
    useVideo((await gum({ video: back })).getVideoTracks()[0]);
    throw lastErr;
  }

  /** setTorch lights or darkens the torch of the current camera. */
  async function setTorch(on) {
    await video.applyConstraints({ advanced: [{ torch: on }] });
    torch = on;
  }

  function stop() {
    if (video) video.removeEventListener('ended', ended);
    for (const track of [video, audio]) track?.stop();
    video = null;
    audio = null;
    stream = null;
    torch = false;
  }

  return {
    open,
    switchCamera,
    setTorch,
    stop,
    stream: () => stream,
    video: () => video,
    audio: () => audio,
    canSwitch: () => cameras > 1,
    hasTorch() {
      try { return Boolean(video?.getCapabilities?.().torch); } catch { return false; }
    },
    torchOn: () => torch,
    front: () => video?.getSettings().facingMode === 'user',
  };
}
