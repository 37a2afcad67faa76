package tollgate

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func TestPromptHandles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		prompt string
		want   []string
	}{
		{"@foxstar dances", []string{"foxstar"}},
		{"with @foxstar. Then @owl_2 and @foxstar again", []string{"foxstar", "owl_2"}},
		{"mail ada@foxstar.com", nil},     // inside an address
		{"@FoxStar shouts", nil},          // handles are lowercase
		{"@ab is too short", nil},         // 3 characters at least
		{"(@mira.k)", []string{"mira.k"}}, // dots inside, brackets around
		{"foxstar without the at", nil},   // a bare name is text
		{"@@foxstar", nil},                // a doubled @ is a typo, not a name
	} {
		if got := PromptHandles(tc.prompt); !slices.Equal(got, tc.want) {
			t.Errorf("PromptHandles(%q) = %v, want %v", tc.prompt, got, tc.want)
		}
	}
}

func TestHandleFrom(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"Captain Lux":                         "captain_lux",
		"  Mira ":                             "mira",
		"Zoë":                                 "zo_",
		"李":                                   "cameo",
		"A":                                   "a__",
		"An extremely long name for a mascot": "an_extremely_long_name_f",
	} {
		got := HandleFrom(name)
		if got != want {
			t.Errorf("HandleFrom(%q) = %q, want %q", name, got, want)
		}
		if !ValidHandle(got) {
			t.Errorf("HandleFrom(%q) = %q, not a valid handle", name, got)
		}
	}
}

// TestFeeSplit: the take and the net always sum to the fee, the net is
// the fee less the take rounded down, and neither is negative.
func TestFeeSplit(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		f := Fee{Credits: Credits(rapid.Int64Range(0, int64(MaxCameoFee)).Draw(rt, "fee")), TakeBPS: rapid.IntRange(0, MaxTakeBPS).Draw(rt, "bps")}
		take, net := f.Split()
		if take+net != f.Credits || take < 0 || net < 0 {
			rt.Fatalf("split %s at %d bps: take %s net %s", f.Credits, f.TakeBPS, take, net)
		}
		// net = floor(fee * (10000 - bps) / 10000), exactly.
		if int64(net)*MaxTakeBPS > int64(f.Credits)*int64(MaxTakeBPS-f.TakeBPS) || (int64(net)+1)*MaxTakeBPS <= int64(f.Credits)*int64(MaxTakeBPS-f.TakeBPS) {
			rt.Fatalf("net %s of %s at %d bps is not rounded down", net, f.Credits, f.TakeBPS)
		}
	})
}

// TestCameoPermits is the consent matrix: every policy and status, for the
// owner, an approved account and a stranger.
func TestCameoPermits(t *testing.T) {
	t.Parallel()
	type who struct {
		account  string
		approved bool
	}
	owner, approved, stranger := who{"o", false}, who{"a", true}, who{"s", false}
	for _, st := range []CameoStatus{CameoActive, CameoPaused, CameoPendingVerification, CameoDeleted} {
		for _, pol := range []CameoPolicy{PolicyOwnerOnly, PolicyApproved, PolicyAnyone} {
			for _, w := range []who{owner, approved, stranger} {
				c := Cameo{ID: "c", AccountID: "o", Handle: "c_1", Policy: pol, Status: st}
				want := st == CameoActive && (w == owner || pol == PolicyAnyone || pol == PolicyApproved && w.approved) ||
					st == CameoPaused && w == owner
				err := c.Permits(w.account, w.approved)
				if (err == nil) != want {
					t.Errorf("%s %s cameo, %s (approved %v): %v, want permitted %v", st, pol, w.account, w.approved, err, want)
				}
				if err != nil && ErrorCode(err) != CodeCameoNotPermitted {
					t.Errorf("refusal code %s", ErrorCode(err))
				}
			}
		}
	}
}
