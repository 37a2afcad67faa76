package sqlite

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"tollgate"
)

// TestJournalLines: entries packed in a row read back the same, the
// repeated ids and the balancing amount elided; rows written before the
// elision read the same; a row that starts with an elision is refused.
func TestJournalLines(t *testing.T) {
	e := func(book tollgate.Book, grant, hold string, amount int64) tollgate.Entry {
		return tollgate.Entry{TxnID: "txn_1", Kind: tollgate.TxnCapture, AccountID: "a", Book: book, GrantID: grant, HoldID: hold,
			Amount: tollgate.Credits(amount), CreatedAt: fromMicros(1)}
	}
	for _, c := range []struct {
		name  string
		es    []tollgate.Entry
		lines string
	}{
		{"a hold", []tollgate.Entry{e("available", "g1", "h1", -5), e("held", "g1", "h1", 5)},
			"available|g1|h1|-5;held|^|^|="},
		{"a capture over two grants", []tollgate.Entry{
			e("held", "g1", "h1", -3), e("revenue:video", "g1", "h1", 2), e("available", "g1", "h1", 1),
			e("held", "g2", "h1", -4), e("revenue:video", "g2", "h1", 4)},
			"held|g1|h1|-3;revenue:video|^|^|2;available|^|^|=;held|g2|^|-4;revenue:video|^|^|="},
		{"no grant or hold", []tollgate.Entry{e("issuance", "", "", -7), e("available", "g1", "", 7)},
			"issuance|||-7;available|g1||="},
		{"a lone entry", []tollgate.Entry{e("refund_loss", "g1", "", 9)}, "refund_loss|g1||9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := encodeLines(c.es); got != c.lines {
				t.Fatalf("encodeLines: got %q, want %q", got, c.lines)
			}
			r := journalRow{txnID: "txn_1", kind: string(tollgate.TxnCapture), acct: "a", lines: c.lines, created: 1}
			var got []tollgate.Entry
			if err := r.each(func(e tollgate.Entry) { e.ID = 0; got = append(got, e) }); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.es, got); diff != "" {
				t.Fatalf("read back (-want +got):\n%s", diff)
			}
		})
	}
	old := journalRow{txnID: "txn_1", kind: string(tollgate.TxnHold), acct: "a", lines: "available|g1|h1|-5;held|g1|h1|5", created: 1}
	var got []tollgate.Entry
	if err := old.each(func(e tollgate.Entry) { e.ID = 0; got = append(got, e) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].GrantID != "g1" || got[1].HoldID != "h1" || got[1].Amount != 5 {
		t.Fatalf("a row written before the elision: got %+v", got)
	}
	for _, bad := range []string{"held|^|h1|5", "held|g1|^|5", "held|g1|h1|=", "held|g1|h1|x", "held|g1|5"} {
		r := journalRow{lines: bad}
		if err := r.each(func(tollgate.Entry) {}); err == nil {
			t.Errorf("line %q: got no error", bad)
		}
	}
}
