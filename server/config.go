package server

import (
	"net/http"
	"siteinspect/domain"

	"github.com/labstack/echo/v4"
)

// publicConfig is what every client needs before anyone logs in: which
// office this is, the office's time zone (the UI shows and takes every
// time in it, whatever the device's clock says), the languages the UI
// speaks and the upload limits it can check before sending bytes.
type publicConfig struct {
	Office    publicOffice `json:"office"`
	Timezone  string       `json:"timezone"`
	Languages []string     `json:"languages"`
	Limits    publicLimits `json:"limits"`
}

type publicOffice struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// publicLimits are sizes in bytes: the largest upload of any kind and the
// largest file of each kind.
type publicLimits struct {
	MaxUploadBytes int64                 `json:"max_upload_bytes"`
	PerKind        map[domain.Kind]int64 `json:"per_kind"`
}

// handleConfig answers GET /api/v1/config. It holds nothing a visitor
// may not know, so it needs no login.
func handleConfig(cfg Config) echo.HandlerFunc {
	name := cfg.OfficeName
	if name == "" {
		name = cfg.Office
	}
	body := publicConfig{
		Office:    publicOffice{Code: cfg.Office, Name: name},
		Timezone:  cfg.Location.String(),
		Languages: []string{"zh", "en"},
		Limits:    publicLimits{MaxUploadBytes: cfg.Uploads.MaxSize(), PerKind: cfg.Uploads.Limits()},
	}
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-cache")
		return c.JSON(http.StatusOK, body)
	}
}
