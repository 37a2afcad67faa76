package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkHoldPath serves a one-credit hold and its capture or release
// through the API's handler in-process (no sockets): what the HTTP layer
// and the ledger allocate and spend per hold lifecycle. One op is a hold
// and its settle. go test -run XXX -bench HoldPath -benchmem ./httpapi
func BenchmarkHoldPath(b *testing.B) {
	for _, sc := range storeCases {
		b.Run(sc.name, func(b *testing.B) {
			e := newEnv(b, sc.open)
			const accounts = 100
			for i := range accounts {
				id := fmt.Sprintf("acct-%03d", i)
				e.createAccount(b, id, "free", "")
				e.grant(b, id, `{"credits":"1000000","source":"admin"}`)
			}
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					body := `{"account_id":"acct-` + fmt.Sprintf("%03d", i%accounts) + `","product":"video","credits":"1"}`
					w := serveOnce(e, "POST", "/v1/holds", body)
					if w.Code != http.StatusCreated {
						b.Errorf("hold: %d %s", w.Code, w.Body)
						return
					}
					id := holdID(w.Body.String())
					op := "/capture"
					if i%2 == 0 {
						op = "/release"
					}
					if w := serveOnce(e, "POST", "/v1/holds/"+id+op, ""); w.Code != http.StatusOK {
						b.Errorf("settle: %d %s", w.Code, w.Body)
						return
					}
				}
			})
		})
	}
}

// serveOnce serves one request as the server would get it from a
// connection (httptest.NewRequest would add a 4 KiB reader of its own).
func serveOnce(e *env, method, path, body string) *httptest.ResponseRecorder {
	r, err := http.NewRequestWithContext(context.Background(), method, path, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	r.RemoteAddr, r.RequestURI = "192.0.2.1:1234", path
	r.Header.Set("Authorization", "Bearer "+adminKey)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, r)
	return w
}

// holdID is the "id" member of a hold's JSON answer.
func holdID(s string) string {
	_, rest, _ := strings.Cut(s, `"id":"`)
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

// BenchmarkCreateAlone serves one video create at a time through the API's
// handler in-process: the server's part of a create's latency (no job
// runs: the gateway's runner is stopped).
func BenchmarkCreateAlone(b *testing.B) {
	for _, sc := range storeCases {
		b.Run(sc.name, func(b *testing.B) {
			e := newEnv(b, sc.open)
			// Jobs stay pending, each with its hold: accounts enough for
			// the free plan's cap on pending holds.
			const accounts = 50
			for i := range accounts {
				id := fmt.Sprintf("alone-%02d", i)
				e.createAccount(b, id, "free", "")
				e.grant(b, id, `{"credits":"100000000","source":"admin"}`)
			}
			e.videos.Stop() // jobs are made, not run: the create alone is measured, as tollgate bench --videos does
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				body := `{"prompt":"a lighthouse at dusk","model":"sora-2","seconds":"4","size":"1280x720","tollgate":{"account_id":"alone-` +
					fmt.Sprintf("%02d", i%accounts) + `"}}`
				if w := serveOnce(e, "POST", "/v1/videos", body); w.Code != http.StatusOK {
					b.Fatalf("create: %d %s", w.Code, w.Body)
				}
			}
		})
	}
}
