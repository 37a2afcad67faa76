package httpapi

import (
	"net/http"
	"reflect"

	"tollgate"
)

// A surface is how a family of operations speaks HTTP: how a request's
// body is read and decoded, how an error is answered, and how the document
// describes both. Tollgate's own API is one (tollgateAPI: JSON through the
// strict decoder, RFC 9457 problems); a surface compatible with another
// API, such as OpenAI's videos with its multipart bodies and its error
// envelope, is another, set on its operations (op.surface).
type surface struct {
	// read reads a request's body within the server's limits, refusing
	// media types the surface does not take.
	read func(s *Server, w http.ResponseWriter, r *http.Request) ([]byte, error)
	// decode fills v, a Body, from the body read; optional allows an empty
	// body.
	decode func(r *http.Request, body []byte, v any, optional bool) error
	// bodyTypes are the media types a body may come as, for the document.
	bodyTypes []string
	// render writes e, of status, as this surface answers errors: its
	// content type and body.
	render func(s *Server, r *http.Request, e *tollgate.Error, status int) (string, []byte)
	// errorResponse documents the answers of one error status listing
	// codes.
	errorResponse func(status int, codes []tollgate.Code) map[string]any
	// errorTypes are the types errorResponse refers to, added to the
	// document's schemas.
	errorTypes []reflect.Type
	// adjust, when set, may change an error's status and set headers
	// before it is written.
	adjust func(w http.ResponseWriter, r *http.Request, e *tollgate.Error, status int) int
	// canonical, when set, is what of a body the Idempotency-Key's hash
	// covers: the same request sent twice must hash alike.
	canonical func(r *http.Request, body []byte) []byte
	// docStatus, when set, is the status the document lists a code
	// under; statusOf otherwise.
	docStatus func(tollgate.Code) int
}

// tollgateAPI is Tollgate's own surface.
var tollgateAPI = &surface{
	read:          (*Server).readBody,
	decode:        func(_ *http.Request, body []byte, v any, optional bool) error { return decode(body, v, optional) },
	bodyTypes:     []string{"application/json"},
	render:        renderProblem,
	errorResponse: problemResponse,
	errorTypes:    []reflect.Type{reflect.TypeFor[Problem]()},
}

// surfaceOf returns o's surface, Tollgate's own by default.
func (o *op) surfaceOf() *surface {
	if o.surface == nil {
		return tollgateAPI
	}
	return o.surface
}
