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
	// Name is NameZh, for clients that show one name.
	Name   string `json:"name"`
	NameZh string `json:"name_zh"`
	NameEn string `json:"name_en"`
}

// publicLimits are sizes in bytes: the largest upload of any kind and the
// largest file of each kind.
type publicLimits struct {
	MaxUploadBytes int64                 `json:"max_upload_bytes"`
	PerKind        map[domain.Kind]int64 `json:"per_kind"`
}

// handleConfig answers GET /api/v1/config. It holds nothing a visitor
// may not know, so it needs no login. The office's name and zone are the
// settings in force (an admin's, else the flags'), read per request.
func handleConfig(cfg Config, off *office) echo.HandlerFunc {
	limits := publicLimits{MaxUploadBytes: cfg.Uploads.MaxSize(), PerKind: cfg.Uploads.Limits()}
	return func(c echo.Context) error {
		v := off.current(c.Request().Context())
		body := publicConfig{
			Office:    publicOffice{Code: v.Code, Name: v.NameZh, NameZh: v.NameZh, NameEn: v.NameEn},
			Timezone:  v.Location.String(),
			Languages: []string{"zh", "en"},
			Limits:    limits,
		}
		c.Response().Header().Set("Cache-Control", "no-cache")
		return c.JSON(http.StatusOK, body)
	}
}
