package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"siteinspect/domain"
	"siteinspect/media"
)

// result collects what processing one item produced.
type result struct {
	w       *Worker
	ev      *domain.Evidence
	dir     string
	media   *domain.Media
	derived domain.Derived
}

func mediaOf(in *media.Info) *domain.Media {
	m := &domain.Media{VideoCodec: in.VideoCodec, AudioCodec: in.AudioCodec}
	if in.DurationMS > 0 {
		m.DurationMS = &in.DurationMS
	}
	if in.Width > 0 && in.Height > 0 {
		m.Width, m.Height = &in.Width, &in.Height
	}
	if in.FPS > 0 {
		m.FPS = &in.FPS
	}
	if in.Pages > 0 {
		m.Pages = &in.Pages
	}
	if in.CapturedAt != nil {
		s := in.CapturedAt.UTC().Format(time.RFC3339)
		m.CapturedAt = &s
	}
	if in.Latitude != nil && in.Longitude != nil {
		s := fmt.Sprintf("%.6f,%.6f", *in.Latitude, *in.Longitude)
		m.Location = &s
	}
	return m
}

// video probes a video, makes its poster and filmstrip, and a proxy when
// browsers cannot play the original. What makes it playable comes first
// and is recorded at once (the original after the probe, else the proxy),
// so that an officer can watch it while the pictures are still being made.
func (r *result) video(ctx context.Context, orig string) error {
	run := r.w.cfg.Media
	info, err := run.ProbeVideo(ctx, orig)
	if err != nil {
		return err
	}
	r.media = mediaOf(info)
	if info.VideoCodec == "" {
		// A sound recording: nothing to picture, and browsers play it.
		r.derived.Playable = true
		return nil
	}
	if !media.Playable(info) {
		proxy := filepath.Join(r.dir, domain.DerivedProxy)
		if err := run.Proxy(ctx, orig, proxy, info); err != nil {
			return err
		}
		if err := r.w.put(ctx, r.ev, domain.DerivedProxy, proxy, "video/mp4"); err != nil {
			return err
		}
		r.derived.Proxy = true
	}
	if err := r.markPlayable(ctx); err != nil {
		return err
	}
	poster := filepath.Join(r.dir, domain.DerivedPoster)
	if err := run.Poster(ctx, orig, poster, info); err != nil {
		return err
	}
	strip := filepath.Join(r.dir, domain.DerivedFilmstrip)
	fs, err := run.Filmstrip(ctx, orig, strip, info)
	if err != nil {
		return err
	}
	if err := r.w.put(ctx, r.ev, domain.DerivedPoster, poster, "image/jpeg"); err != nil {
		return err
	}
	if err := r.w.put(ctx, r.ev, domain.DerivedFilmstrip, strip, "image/jpeg"); err != nil {
		return err
	}
	r.derived.Poster = true
	r.derived.Filmstrip = &domain.Filmstrip{IntervalMS: fs.IntervalMS, Columns: fs.Columns, Rows: fs.Rows, TileWidth: fs.TileWidth, TileHeight: fs.TileHeight, Count: fs.Count}
	return nil
}

// markPlayable records that the item plays in a browser while it is still
// processing. An item that is no longer processing (a retried job whose
// item another run finished) is left as it is.
func (r *result) markPlayable(ctx context.Context) error {
	r.derived.Playable = true
	der := r.derived
	err := r.w.cfg.DB.SetEvidencePlayable(ctx, r.ev.ID, r.media, &der)
	if err != nil && !errors.Is(err, domain.ErrConflict) {
		return fmt.Errorf("mark %s playable: %w", r.ev.ID, err)
	}
	return nil
}

// image reads a photo's facts and makes an upright preview and thumbnail.
func (r *result) image(ctx context.Context, orig string) error {
	run := r.w.cfg.Media
	info, err := run.ProbeImage(ctx, orig)
	if err != nil {
		return err
	}
	r.media = mediaOf(info)
	preview, thumb := filepath.Join(r.dir, domain.DerivedPoster), filepath.Join(r.dir, domain.DerivedThumbnail)
	if err := run.ImagePreview(ctx, orig, preview, thumb); err != nil {
		return err
	}
	if err := r.w.put(ctx, r.ev, domain.DerivedPoster, preview, "image/jpeg"); err != nil {
		return err
	}
	if err := r.w.put(ctx, r.ev, domain.DerivedThumbnail, thumb, "image/jpeg"); err != nil {
		return err
	}
	r.derived.Poster, r.derived.Thumbnail = true, true
	return nil
}

// pdf counts a PDF's pages, renders each (and a thumbnail) and extracts its
// text per page.
func (r *result) pdf(ctx context.Context, orig string) error {
	run := r.w.cfg.Media
	info, err := run.ProbePDF(ctx, orig)
	if err != nil {
		return err
	}
	r.media = mediaOf(info)
	pages := filepath.Join(r.dir, "pages")
	if err := run.RenderPDF(ctx, orig, pages, info.Pages, nil); err != nil {
		return err
	}
	for n := 1; n <= info.Pages; n++ {
		for _, thumb := range []bool{false, true} {
			local := filepath.Join(pages, fmt.Sprintf("%d.png", n))
			if thumb {
				local = filepath.Join(pages, "thumbs", fmt.Sprintf("%d.png", n))
			}
			if err := r.w.put(ctx, r.ev, domain.DerivedPage(n, thumb), local, "image/png"); err != nil {
				return err
			}
		}
	}
	r.derived.Pages = info.Pages
	text, err := run.PDFText(ctx, orig, info.Pages)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(text)
	tf := filepath.Join(r.dir, domain.DerivedText)
	if err := os.WriteFile(tf, b, 0o640); err != nil {
		return err
	}
	if err := r.w.put(ctx, r.ev, domain.DerivedText, tf, "application/json"); err != nil {
		return err
	}
	r.derived.Text = true
	return nil
}
