package jobs

import "testing"

// TestSignMatchesTheSpecification checks Sign against the example of the
// Standard Webhooks specification.
func TestSignMatchesTheSpecification(t *testing.T) {
	t.Parallel()
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if _, err := Sign("whsec_not base64!", "m", 1, nil); err == nil {
		t.Fatal("a malformed secret signed without error")
	}
}
