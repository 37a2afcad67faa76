package store

import (
	"reflect"
	"strings"
	"testing"
)

func TestMigrationCompat(t *testing.T) {
	for _, tc := range []struct{ sql, want string }{
		{"-- compat: expand\nALTER TABLE a ADD COLUMN b int;", Expand},
		{"-- Adds b.\n  -- compat: expand  \nALTER TABLE a ADD COLUMN b int;", Expand},
		{"ALTER TABLE a DROP COLUMN b;", Contract},
		{"-- compat: expandable\nDROP TABLE a;", Contract},
	} {
		if got := MigrationCompat(tc.sql); got != tc.want {
			t.Errorf("MigrationCompat(%q) = %s, want %s", tc.sql, got, tc.want)
		}
	}
}

func TestCompatible(t *testing.T) {
	known := []string{"0001_a", "0002_b"}
	s := CompareSchema([]Applied{{"0001_a", Contract}, {"0003_c", Expand}}, known)
	if err := s.Compatible(); err != nil {
		t.Errorf("an unknown expand migration: got %v, want nil", err)
	}
	if len(s.Pending) != 1 || s.Pending[0] != "0002_b" {
		t.Errorf("pending: got %v", s.Pending)
	}
	s = CompareSchema([]Applied{{"0001_a", Contract}, {"0003_c", Expand}, {"0004_d", Contract}}, known)
	if err := s.Compatible(); err == nil || !strings.Contains(err.Error(), "0004_d") || strings.Contains(err.Error(), "0003_c") {
		t.Errorf("an unknown contract migration: got %v, want a refusal naming 0004_d alone", err)
	}
}

// TestWritesEmpty: a Writes with any one field set is not empty, so a
// batch that writes only that is applied (a field Empty forgets would be
// silently dropped).
func TestWritesEmpty(t *testing.T) {
	t.Parallel()
	if !(&Writes{}).Empty() {
		t.Fatal("the zero Writes is not empty")
	}
	typ := reflect.TypeFor[Writes]()
	for i := range typ.NumField() {
		var w Writes
		f := reflect.ValueOf(&w).Elem().Field(i)
		switch f.Kind() {
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Int64:
			f.SetInt(1)
		default:
			t.Fatalf("field %s of kind %s: teach this test to set it", typ.Field(i).Name, f.Kind())
		}
		if w.Empty() {
			t.Errorf("a Writes with only %s set is empty", typ.Field(i).Name)
		}
	}
}
