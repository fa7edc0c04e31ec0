// Package web holds the browser UI of siteinspect: plain HTML, CSS and ES
// modules embedded into the binary, so the Go executable is the whole
// deployment and there is no build step for the front end.
package web

import (
	"embed"
	"fmt"
	"io/fs"
)

// static is the UI tree. It is fixed at compile time, so reading it can only
// fail if the directive and the folder disagree, which the tests catch.
//
//go:embed static
var static embed.FS

// FS returns the UI files rooted at the static folder, so that index.html is
// at the root and the server can serve it at "/" unchanged.
func FS() (fs.FS, error) {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("web: sub-tree static: %w", err)
	}
	return sub, nil
}
