package server

import (
	"regexp"
	"strings"
	"testing"
)

// TestOpenAPICoversRoutes keeps openapi.yaml in step with routes.go: every
// API route and method must be documented.
func TestOpenAPICoversRoutes(t *testing.T) {
	s := newMatrix(t).s // every route, the live ones included
	doc := string(openAPI)
	param := regexp.MustCompile(`:(\w+)`)
	for _, r := range s.echo.Routes() {
		// Echo adds catch-alls for groups with middleware.
		if r.Path == "/api/v1" || strings.HasSuffix(r.Path, "/*") || r.Method == "echo_route_not_found" {
			continue
		}
		path := param.ReplaceAllString(r.Path, "{$1}")
		i := strings.Index(doc, "\n  "+path+":\n")
		if i < 0 {
			t.Errorf("openapi.yaml lacks path %s", path)
			continue
		}
		block := doc[i+1:]
		if j := regexp.MustCompile(`\n  /`).FindStringIndex(block); j != nil {
			block = block[:j[0]]
		}
		if !strings.Contains(block, "\n    "+strings.ToLower(r.Method)+":") {
			t.Errorf("openapi.yaml lacks %s %s", r.Method, path)
		}
	}
}
