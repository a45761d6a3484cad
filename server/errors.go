package server

import (
	"errors"
	"log/slog"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/petition"
)

// apiError is an error with a fixed status, code and client message. The message never
// carries request data: details go to slog.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newErr(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

// The client-facing errors, one per cause, in one place.
var (
	errMalformed      = newErr(400, "malformed_json", "the body is not JSON of the expected shape")
	errAmbiguous      = newErr(400, "ambiguous_json", "a key is repeated, or spelled in another case than its field's name")
	errNotCanonical   = newErr(422, "not_canonical", "the signed document is not in its canonical encoding (docs/api.md)")
	errContentType    = newErr(415, "unsupported_media_type", "send application/json")
	errTooLarge       = newErr(413, "body_too_large", "the body is larger than the server accepts")
	errBadSignature   = newErr(401, "bad_signature", "the signature does not verify for this citizen")
	errUnknownCitizen = newErr(404, "unknown_citizen", "no citizen is registered with this id")
	errStale          = newErr(422, "stale_statement", "issued_at is missing or too far from the server's clock")
	errReplay         = newErr(409, "replayed", "this nonce was already used")
	errBusy           = newErr(409, "conflict_in_flight", "a conflicting request is being processed; retry")
	errWrongType      = newErr(422, "wrong_type", "this endpoint does not take statements of this type")
	errUnknownPurpose = newErr(422, "unknown_purpose", "no purpose with this id")
	errOldVersion     = newErr(409, "purpose_version_changed", "the purpose has a newer version; read it and consent to that one")
	errNoConsent      = newErr(403, "no_consent", "there is no active consent for this purpose")
	errAlreadyGranted = newErr(409, "already_granted", "consent to this purpose version is already active")
	errEpochClosed    = newErr(409, "epoch_closed", "this day's release is already published")
	errNotSealed      = newErr(422, "not_sealed", "an envelope is not an age ciphertext to one X25519 recipient of a plausible size")
	errInvite         = newErr(403, "invalid_invite", "the invite code is unknown or already used")
	errRegistered     = newErr(409, "already_registered", "this citizen is already registered")
	errNeighbourhood  = newErr(422, "unknown_neighbourhood", "no neighbourhood with this id")
	errNoPetition     = newErr(404, "unknown_petition", "no petition with this id")
	errPetitionClosed = newErr(409, "petition_closed", "the petition is closed")
	errNotYetOpen     = newErr(409, "petition_not_open", "the petition does not accept signatures yet")
	errOutOfScope     = newErr(403, "out_of_scope", "the petition is not open to residents of your neighbourhood")
	errAlreadySigned  = newErr(409, "already_signed", "you already signed this petition")
	errNotSigned      = newErr(409, "not_signed", "you have no signature on this petition to withdraw")
	errWithdrawn      = newErr(409, "already_withdrawn", "your signature on this petition is already withdrawn")
	errPending        = newErr(409, "signature_pending", "the signature is not in the ledger yet: withdraw it once its receipt is there")
	errBadToken       = newErr(403, "invalid_token", "the token does not verify for this petition and key")
	errNoTokenKey     = newErr(409, "no_token_key", "the petition issues no tokens yet")
	errIssued         = newErr(409, "already_issued", "a token for this petition was already issued to you for another blinded message")
	errPetitionAct    = newErr(422, "petition_act", "petition signatures and withdrawals go to POST /api/v1/petitions/{id}/signatures, signed by the wallet's key for the petition")
	errPetitionExists = newErr(409, "petition_exists", "a petition with this id already exists")
	errNotOrganiser   = newErr(403, "not_organiser", "only an organiser may do this")
	errNotYours       = newErr(403, "not_your_petition", "only the petition's organiser may do this")
	errIsOrganiser    = newErr(409, "already_organiser", "this citizen is already an organiser")
	errNoOrganiser    = newErr(409, "not_an_organiser", "this citizen does not hold the organiser role")
	errUnauthorized   = newErr(401, "unauthorized", "a valid admin token is required")
	errNotFound       = newErr(404, "not_found", "no such resource")
	errInternal       = newErr(500, "internal", "the server could not complete the request")
	errUnavailable    = newErr(503, "unavailable", "the server is shutting down")
	errFull           = newErr(503, "unavailable", "the server holds as many connections as it serves at once; retry after the Retry-After seconds")
	errNotReady       = newErr(503, "unavailable", "the node is not ready: it is starting (a demo node loads and publishes its city first) or shutting down")
	errRateLimited    = newErr(429, "rate_limited", "too many requests from your address; retry after the Retry-After seconds")
	errCitizenLimited = newErr(429, "citizen_rate_limited", "too many signed writes from this resident; retry after the Retry-After seconds")
)

// petitionErrors answer the petition package's refusals.
var petitionErrors = map[error]*apiError{
	petition.ErrMalformed:            errMalformed,
	petition.ErrDocumentHash:         errBadSignature,
	petition.ErrUnknownNeighbourhood: errNeighbourhood,
	petition.ErrNotYetOpen:           errNotYetOpen,
	petition.ErrClosed:               errPetitionClosed,
	petition.ErrNotYours:             errNotYours,
	petition.ErrNotSealed:            errNotSealed,
	petition.ErrAlreadySigned:        errAlreadySigned,
	petition.ErrNotSigned:            errNotSigned,
	petition.ErrWithdrawn:            errWithdrawn,
	petition.ErrPending:              errPending,
	petition.ErrBadToken:             errBadToken,
	petition.ErrNoTokenKey:           errNoTokenKey,
	petition.ErrOutOfScope:           errOutOfScope,
}

// jsonError answers a refusal of the api package's strict decoders; other errors pass as they
// are.
func jsonError(err error) error {
	switch {
	case errors.Is(err, api.ErrMalformed):
		return errMalformed
	case errors.Is(err, api.ErrAmbiguous):
		return errAmbiguous
	case errors.Is(err, api.ErrNotCanonical):
		return errNotCanonical
	}
	return err
}

// petitionError answers a refusal of the petition package; other errors pass as they are.
func petitionError(err error) error {
	if ae, ok := jsonError(err).(*apiError); ok {
		return ae
	}
	var inv *petition.InvalidError
	if errors.As(err, &inv) {
		return invalid(inv.Field, inv.Rule)
	}
	for refusal, ae := range petitionErrors {
		if errors.Is(err, refusal) {
			return ae
		}
	}
	return err
}

// invalid is a 422 naming the offending field, never its value.
func invalid(field, why string) *apiError {
	return newErr(422, "invalid_field", field+": "+why)
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorPage answers an error's status as an HTML page; dashboards.Pages.Error is one.
type errorPage func(c *fiber.Ctx, status int) error

// errorHandler answers every error with its fixed status and message, as the JSON body
// {"error":{"code","message"}} or, when page is not nil and the request asks for a page
// (wantsPage), as that page. Unexpected errors are logged with their detail and answered as a
// bare 500.
func errorHandler(logger *slog.Logger, page errorPage) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var ae *apiError
		var fe *fiber.Error
		switch {
		case errors.As(err, &ae):
		case errors.As(err, &fe):
			ae = fromFiber(fe.Code)
		default:
			logger.Error("request failed", "method", c.Method(), "route", c.Route().Path,
				"request_id", c.Locals(requestIDKey), "err", err)
			ae = errInternal
		}
		// A request fasthttp refuses before routing (a garbled request line, huge headers) never
		// went through the middleware: its answer gets the security headers here.
		if len(c.Response().Header.Peek(fiber.HeaderXContentTypeOptions)) == 0 {
			setSecurityHeaders(c)
		}
		if page != nil && wantsPage(c) {
			perr := page(c, ae.status)
			if perr == nil {
				return nil
			}
			logger.Error("error page failed", "status", ae.status, "request_id", c.Locals(requestIDKey), "err", perr)
		}
		var body errorBody
		body.Error.Code, body.Error.Message = ae.code, ae.message
		return c.Status(ae.status).JSON(body)
	}
}

// wantsPage reports whether an error is answered as an HTML page rather than JSON: never on
// the machine paths (machinePath: the API, the tlog tiles, the probes, the metrics), and
// elsewhere unless the Accept header prefers JSON to HTML. A client that sends no Accept
// header, or */* as curl does, gets the page: on a page path, the answer is a page.
func wantsPage(c *fiber.Ctx) bool {
	return !machinePath(c.Path()) && c.Accepts(fiber.MIMETextHTML, fiber.MIMEApplicationJSON) != fiber.MIMEApplicationJSON
}

// fromFiber maps fiber's own errors (routing, body limit, timeouts) to fixed answers.
func fromFiber(code int) *apiError {
	switch code {
	case fiber.StatusRequestEntityTooLarge:
		return errTooLarge
	case fiber.StatusNotFound:
		return errNotFound
	case fiber.StatusMethodNotAllowed:
		return newErr(405, "method_not_allowed", "this method is not allowed here")
	case fiber.StatusRequestTimeout:
		return newErr(408, "timeout", "the request took too long")
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return newErr(431, "headers_too_large", "the request headers are too large")
	case fiber.StatusUnsupportedMediaType:
		return errContentType
	case fiber.StatusServiceUnavailable:
		return errUnavailable
	}
	if code >= 400 && code < 500 {
		return newErr(code, "bad_request", "the request is not valid")
	}
	return errInternal
}
