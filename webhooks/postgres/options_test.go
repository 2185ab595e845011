package postgres_test

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/hookbus/hookbus/webhooks/postgres"
)

func TestOptionsValidate(t *testing.T) {
	valid := postgres.LogOptions{Options: postgres.Options{Schema: "hookbus", TablePrefix: "wh_"}, PruneBatchSize: 100}
	if err := valid.Validate(); err != nil {
		t.Fatalf("Validate of the valid options the cases start from = %v", err)
	}
	// The cases change either the Options, checked by every entry point, or
	// the field of LogOptions, checked by NewDeliveryLog only.
	tests := []struct {
		name    string
		change  func(o *postgres.LogOptions)
		wantErr bool
	}{
		{"zero schema means public", func(o *postgres.LogOptions) { o.Schema = "" }, false},
		{"zero prefix means hookbus_", func(o *postgres.LogOptions) { o.TablePrefix = "" }, false},
		{"zero batch size", func(o *postgres.LogOptions) { o.PruneBatchSize = 0 }, false},
		{"schema with digits and underscores", func(o *postgres.LogOptions) { o.Schema = "_tenant_42" }, false},
		{"keyword schema, quoted", func(o *postgres.LogOptions) { o.Schema = "user" }, false},
		{"schema of 63 bytes", func(o *postgres.LogOptions) { o.Schema = strings.Repeat("s", 63) }, false},
		{"longest prefix", func(o *postgres.LogOptions) { o.TablePrefix = strings.Repeat("p", 39) }, false},

		{"schema of 64 bytes", func(o *postgres.LogOptions) { o.Schema = strings.Repeat("s", 64) }, true},
		{"prefix too long for the index names", func(o *postgres.LogOptions) { o.TablePrefix = strings.Repeat("p", 40) }, true},
		{"uppercase schema", func(o *postgres.LogOptions) { o.Schema = "Hookbus" }, true},
		{"schema starting with a digit", func(o *postgres.LogOptions) { o.Schema = "1hookbus" }, true},
		{"schema with a hyphen", func(o *postgres.LogOptions) { o.Schema = "hook-bus" }, true},
		{"schema with a dot", func(o *postgres.LogOptions) { o.Schema = "public.x" }, true},
		{"schema with a space", func(o *postgres.LogOptions) { o.Schema = "hook bus" }, true},
		{"non-ASCII schema", func(o *postgres.LogOptions) { o.Schema = "héllo" }, true},
		{"schema with a quote", func(o *postgres.LogOptions) { o.Schema = `x"y` }, true},
		{"schema with a NUL byte", func(o *postgres.LogOptions) { o.Schema = "x\x00" }, true},
		{"system schema pg_catalog", func(o *postgres.LogOptions) { o.Schema = "pg_catalog" }, true},
		{"reserved pg_ schema", func(o *postgres.LogOptions) { o.Schema = "pg_hookbus" }, true},
		{"information_schema", func(o *postgres.LogOptions) { o.Schema = "information_schema" }, true},
		{"SQL in the schema", func(o *postgres.LogOptions) { o.Schema = `public"; DROP SCHEMA public CASCADE; --` }, true},
		{"SQL in the prefix", func(o *postgres.LogOptions) { o.TablePrefix = `x" (id int); DROP TABLE t; --` }, true},
		{"prefix with a hyphen", func(o *postgres.LogOptions) { o.TablePrefix = "hook-" }, true},
		{"prefix starting with a digit", func(o *postgres.LogOptions) { o.TablePrefix = "9_" }, true},
		{"negative batch size", func(o *postgres.LogOptions) { o.PruneBatchSize = -1 }, true},
	}
	db, err := sql.Open("pgx", "postgres://127.0.0.1:1/never-connected")
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	defer db.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.change(&o)
			check := func(what string, err error) {
				t.Helper()
				if tc.wantErr && !errors.Is(err, postgres.ErrInvalidOptions) {
					t.Errorf("%s = %v, want ErrInvalidOptions", what, err)
				}
				if !tc.wantErr && err != nil {
					t.Errorf("%s = %v, want nil", what, err)
				}
			}
			check("LogOptions.Validate", o.Validate())
			_, err := postgres.NewDeliveryLog(db, o)
			check("NewDeliveryLog", err)
			if o.PruneBatchSize != valid.PruneBatchSize {
				return
			}
			check("Options.Validate", o.Options.Validate())
			_, err = postgres.NewStore(db, o.Options)
			check("NewStore", err)
			if tc.wantErr { // valid options would make Migrate connect
				check("Migrate", postgres.Migrate(t.Context(), db, o.Options))
			}
		})
	}
}

func TestOptionsErrorNamesEveryProblem(t *testing.T) {
	err := postgres.LogOptions{Options: postgres.Options{Schema: "A", TablePrefix: "-"}, PruneBatchSize: -1}.Validate()
	for _, field := range []string{"Schema", "TablePrefix", "PruneBatchSize"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate = %v, want an error naming %s", err, field)
		}
	}
}

func TestNilDB(t *testing.T) {
	if _, err := postgres.NewStore(nil, postgres.Options{}); !errors.Is(err, postgres.ErrNilDB) {
		t.Errorf("NewStore(nil) = %v, want ErrNilDB", err)
	}
	if _, err := postgres.NewDeliveryLog(nil, postgres.LogOptions{}); !errors.Is(err, postgres.ErrNilDB) {
		t.Errorf("NewDeliveryLog(nil) = %v, want ErrNilDB", err)
	}
	if err := postgres.Migrate(t.Context(), nil, postgres.Options{}); !errors.Is(err, postgres.ErrNilDB) {
		t.Errorf("Migrate(nil) = %v, want ErrNilDB", err)
	}
}

func TestOptionsTables(t *testing.T) {
	for _, tc := range []struct {
		opts postgres.Options
		want string
	}{
		{postgres.Options{}, "public.hookbus_migrations public.hookbus_webhooks public.hookbus_deliveries public.hookbus_attempts"},
		{postgres.Options{Schema: "s", TablePrefix: "p_"}, "s.p_migrations s.p_webhooks s.p_deliveries s.p_attempts"},
	} {
		if got := strings.Join(tc.opts.Tables(), " "); got != tc.want {
			t.Errorf("%+v.Tables() = %s, want %s", tc.opts, got, tc.want)
		}
	}
}

// Values carrying SQL are refused before any statement runs: the statement
// hidden in them never executes.
func TestMigrateRefusesSQLInOptions(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	victim := randomName("hookbus_injected_")
	t.Cleanup(func() { dropSchema(t, db, victim) })
	for _, opts := range []postgres.Options{
		{Schema: `public"; CREATE SCHEMA ` + victim + `; --`},
		{Schema: `public; CREATE SCHEMA ` + victim},
		{TablePrefix: `x" (id int); CREATE SCHEMA ` + victim + `; --`},
	} {
		if err := postgres.Migrate(t.Context(), db, opts); !errors.Is(err, postgres.ErrInvalidOptions) {
			t.Errorf("Migrate(%q) = %v, want ErrInvalidOptions", opts, err)
		}
	}
	if schemaExists(t, db, victim) {
		t.Errorf("a statement hidden in Options ran: schema %s exists", victim)
	}
}
