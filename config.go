package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"siteinspect/domain"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// storageFlags are the flags every command that opens the stores takes.
type storageFlags struct {
	data                string
	db                  string
	s3Endpoint          string
	s3AccessKey         string
	s3SecretKey         string
	s3Bucket            string
	s3TLS               bool
	partSizeMiB         int64
	partConcurrency     int
	maxVideo, maxImage  int64
	maxPDF              int64
	companyDailyBytes   int64
	companyDailyUploads int
	companyDailyCases   int
	uploadTTL, leaseTTL string
	retentionDays       int
	passwordCost        int
}

func (f *storageFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.data, "data", "./data", "data directory: the SQLite file, upload spool and (without S3) the objects")
	fs.StringVar(&f.db, "db", "", "database: a SQLite path or a postgres:// URL (default DATA/siteinspect.db)")
	fs.StringVar(&f.s3Endpoint, "s3-endpoint", "", "S3/MinIO endpoint host:port; empty keeps objects in DATA/objects")
	fs.StringVar(&f.s3AccessKey, "s3-access-key", "", "S3 access key")
	fs.StringVar(&f.s3SecretKey, "s3-secret-key", "", "S3 secret key")
	fs.StringVar(&f.s3Bucket, "s3-bucket", "siteinspect", "S3 bucket (created if missing)")
	fs.BoolVar(&f.s3TLS, "s3-tls", false, "use https for S3")
	fs.Int64Var(&f.partSizeMiB, "part-size-mib", 8, "multipart part size in MiB (at least 5): smaller parts overlap receiving and storing better; 8 GiB in 8 MiB parts is 1,024 of S3's 10,000")
	fs.IntVar(&f.partConcurrency, "part-concurrency", 2, "parts of one upload sent to the object store at once")
	fs.Int64Var(&f.maxVideo, "max-video-size", domain.DefaultLimits[domain.KindVideo], "largest video in bytes")
	fs.Int64Var(&f.maxImage, "max-image-size", domain.DefaultLimits[domain.KindImage], "largest image in bytes")
	fs.Int64Var(&f.maxPDF, "max-pdf-size", domain.DefaultLimits[domain.KindPDF], "largest PDF in bytes")
	fs.StringVar(&f.uploadTTL, "upload-ttl", "24h", "how long an untouched upload is kept before it expires")
	fs.Int64Var(&f.companyDailyBytes, "company-daily-bytes", domain.DefaultCompanyDailyBytes, "bytes a company's uploads of the last 24 hours may declare, over all its cases (upload_quota_exceeded past it)")
	fs.IntVar(&f.companyDailyUploads, "company-daily-uploads", domain.DefaultCompanyDailyUploads, "uploads a company may start in 24 hours, over all its cases")
	fs.IntVar(&f.companyDailyCases, "company-daily-cases", domain.DefaultCompanyDailyCases, "cases a company may open in 24 hours, drafts included (case_quota_exceeded past it)")
	fs.StringVar(&f.leaseTTL, "upload-lease", "6s", "how long a writer that died mid-PATCH blocks its upload (several replicas on PostgreSQL; on SQLite a restart frees it); renewed every third of it")
	fs.IntVar(&f.passwordCost, "password-cost", storage.DefaultPasswordCost,
		"bcrypt work factor of passwords set from now on, 4 to 31 (each step doubles the work of a login; 11 took 50 to 300 ms of one core on the machines we tested); existing passwords keep theirs until changed")
	fs.IntVar(&f.retentionDays, "retention-days", int(storage.DefaultRetention/(24*time.Hour)),
		"days every original is kept at least (on MinIO locked in COMPLIANCE mode: nobody can delete it sooner); a permit type's retention_days overrides it; withdrawn cases are purged after it")
}

// parseFlags parses args, letting SITEINSPECT_<FLAG> environment variables
// supply any flag not given on the command line.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "SITEINSPECT_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
		}
	})
	return err
}

// stores are the opened record and object stores.
type stores struct {
	db      *storage.DB
	objects objects.ObjectStore
	uploads *storage.Uploads
	kind    string
	// retention locks originals, holds cases and purges withdrawn ones.
	retention *storage.Retention
}

func (f *storageFlags) open(ctx context.Context, log *slog.Logger) (*stores, error) {
	dsn := f.db
	if dsn == "" {
		dsn = filepath.Join(f.data, "siteinspect.db")
	}
	if err := mkdirAll(f.data); err != nil {
		return nil, err
	}
	if f.passwordCost < bcrypt.MinCost || f.passwordCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("--password-cost must be %d to %d, got %d", bcrypt.MinCost, bcrypt.MaxCost, f.passwordCost)
	}
	db, err := storage.OpenDB(ctx, dsn)
	if err != nil {
		return nil, err
	}
	db.SetPasswordCost(f.passwordCost)
	db.SetCompanyDailyCases(f.companyDailyCases)
	st := &stores{db: db, kind: "local directory " + filepath.Join(f.data, "objects")}
	if f.retentionDays < 1 {
		db.Close()
		return nil, fmt.Errorf("--retention-days must be at least 1, got %d", f.retentionDays)
	}
	st.retention = &storage.Retention{DB: db, Default: time.Duration(f.retentionDays) * 24 * time.Hour,
		ByPermitType: map[string]time.Duration{}, Logger: log}
	for _, pt := range domain.Catalogue {
		if pt.RetentionDays > 0 {
			st.retention.ByPermitType[pt.Code] = time.Duration(pt.RetentionDays) * 24 * time.Hour
		}
	}
	if f.s3Endpoint != "" {
		m, err := objects.NewMinIO(ctx, objects.MinIOConfig{Endpoint: f.s3Endpoint, AccessKey: f.s3AccessKey, SecretKey: f.s3SecretKey, Bucket: f.s3Bucket, TLS: f.s3TLS,
			Retention: st.retention.Lock})
		if err != nil {
			db.Close()
			return nil, err
		}
		st.objects, st.kind = m, "S3 "+f.s3Endpoint+"/"+f.s3Bucket
		if !m.Locking() {
			log.Warn("the S3 bucket has no object locking: originals are stored unlocked (not WORM) and legal holds are not set on objects; "+
				"move to a bucket made with locking (docs/SECURITY.md, \"Moving to a locked bucket\")", "bucket", f.s3Bucket)
		}
	} else {
		d, err := objects.NewDisk(filepath.Join(f.data, "objects"))
		if err != nil {
			db.Close()
			return nil, err
		}
		st.objects = d
	}
	st.retention.Objects = st.objects
	ttl, err1 := parseDuration(f.uploadTTL)
	lease, err2 := parseDuration(f.leaseTTL)
	if err := errors.Join(err1, err2); err != nil {
		db.Close()
		return nil, err
	}
	st.uploads, err = storage.NewUploads(db, st.objects, domain.UploadConfig{
		SpoolDir:        filepath.Join(f.data, "spool"),
		PartSize:        f.partSizeMiB << 20,
		PartConcurrency: f.partConcurrency,
		Limits: map[domain.Kind]int64{
			domain.KindVideo: f.maxVideo, domain.KindImage: f.maxImage, domain.KindPDF: f.maxPDF, domain.KindRecording: f.maxVideo,
		},
		TTL:                 ttl,
		LeaseTTL:            lease,
		CompanyDailyBytes:   f.companyDailyBytes,
		CompanyDailyUploads: f.companyDailyUploads,
		Logger:              log,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return st, nil
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
