package server

import "strings"

// contentSecurityPolicy is sent with every response. The UI is ES modules
// and stylesheets from our own origin with no inline script or style
// attribute (dom.js sets styles through the CSSOM, which CSP does not
// govern), so nothing needs 'unsafe-inline' or a nonce. Images and video
// may also come from blob: URLs (snapshots, local previews) and images
// from data: (the empty favicon). connect-src 'self' covers the room
// WebSocket on the same host: CSP Level 3 lets 'self' match ws: and wss:
// of our own host, and Chromium 156 does (checked by hand: no violation
// with 'self', one with 'none'). WebRTC media and getUserMedia are not
// governed by CSP.
var contentSecurityPolicy = strings.Join([]string{
	"default-src 'self'",
	"script-src 'self'",
	"style-src 'self'",
	"img-src 'self' blob: data:",
	"media-src 'self' blob:",
	"connect-src 'self'",
	"font-src 'self'",
	"worker-src 'self'",
	"object-src 'none'",
	"base-uri 'none'",
	"form-action 'self'",
	"frame-ancestors 'none'",
}, "; ")
