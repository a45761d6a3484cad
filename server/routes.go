package server

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/activitypub"
	"github.com/commons-city/commons/dashboards"
	"github.com/commons-city/commons/dashboards/wallet"
)

// routes is the whole route table: every path the node answers is named here, and nowhere
// else registers one. The pages and the wallet only render; their handlers are served below.
func (a *handlers) routes(app *fiber.App, pages *dashboards.Pages, walletPage *wallet.Page) {
	// Every routed error is answered in observe: JSON on the machine paths (machinePath), the
	// site's error page elsewhere for a browser (errors.go).
	app.Use(requestID(), a.observe(errorHandler(a.Logger, pages.Error)), securityHeaders, a.timeout)
	limit := a.rateLimit() // POST only, per client IP, shared by every route it guards

	// Probes. The metrics are not here: they have their own listener (Metrics.Handler).
	app.Get("/healthz", a.healthz)
	app.Get("/readyz", a.readyz)

	// The JSON API (docs/api.md).
	v1 := app.Group("/api/v1")
	v1.Get("/purposes", a.listPurposes)
	v1.Get("/purposes/*", a.getPurpose) // a purpose id may hold a slash
	v1.Post("/purposes", limit, a.proposePurpose)
	v1.Get("/neighbourhoods", a.neighbourhoods)
	v1.Post("/citizens", limit, a.register)
	v1.Post("/statements", limit, a.statement)
	v1.Post("/contributions", limit, a.countContributions, a.contribute)
	v1.Post("/vault", limit, a.exportVault)
	v1.Get("/stats/air", a.statsAir)        // downloads: ?day=&grid=&format=json|csv|geojson|openaq
	v1.Get("/petitions", a.listPetitions)   // ?format=json|csv
	v1.Get("/petitions/:id", a.getPetition) // ?format=json|csv|breakdown-csv
	v1.Post("/petitions", limit, a.createPetition)
	v1.Post("/petitions/:id/paper", limit, a.enterPaper)
	v1.Post("/petitions/tokens", limit, a.issueTokens)
	v1.Post("/petitions/:id/signatures", limit, a.petitionAct)
	v1.Get("/petitions/:id/signatures/:nullifier", a.signature)

	v1.Get("/ledger/checkpoint", a.checkpoint)
	v1.Get("/ledger/checkpoint/cosigned", a.cosignedCheckpoint)
	v1.Get("/ledger/key", a.verifierKey)
	v1.Get("/ledger/entries/:index", a.entry)
	v1.Get("/ledger/proof/inclusion", serveProof("index", "size", a.Ledger.ProveInclusion))
	v1.Get("/ledger/proof/consistency", serveProof("from", "to", a.Ledger.ProveConsistency))

	admin := v1.Group("/admin", limit, a.requireAdmin)
	admin.Post("/invites", a.createInvites)
	admin.Post("/organisers", a.grantOrganiser)
	admin.Delete("/organisers/:citizen", a.revokeOrganiser)
	admin.Post("/releases", a.runReleases)
	admin.Post("/purposes/activate/*", a.activatePurpose)
	admin.Post("/purposes/refuse/*", a.refusePurpose)
	admin.Post("/purposes/retire/*", a.retirePurpose)
	admin.Get("/backup", a.backup)

	// C2SP tlog-tiles, so standard tools can mirror the log.
	app.Get("/ledger/checkpoint", a.checkpoint)
	app.Get("/ledger/tile/*", a.tile)

	// The public pages: HTML in English or French, no script.
	app.Get("/", pages.Home)
	app.Get("/air", pages.Air) // ?day=YYYY-MM-DD
	app.Get("/about/accuracy", pages.Accuracy)
	app.Get("/petitions", pages.Petitions)
	app.Get("/petitions/:id", pages.Petition)
	app.Get("/purposes", pages.Purposes)
	app.Get("/purposes/*", pages.Purpose) // a purpose id may hold a slash
	app.Get("/ledger", pages.Ledger)
	// Atom feeds (RFC 4287): the city's, and each neighbourhood's (?lang= as on the pages).
	app.Get(dashboards.FeedPath, pages.Feed)
	app.Get(dashboards.NeighbourhoodFeedPath(":id"), pages.NeighbourhoodFeed)
	app.Get(pages.StylesheetURL(), pages.Stylesheet) // /static/<hash>/style.css

	// ActivityPub (package activitypub): the city's actor at /city, each neighbourhood's at
	// /neighbourhoods/:id (a browser is sent to its page), found through WebFinger.
	if fed := a.Fediverse; fed != nil {
		app.Get(activitypub.WebFingerPath, fed.WebFinger)
		for _, actor := range []string{"/" + activitypub.CityActor, "/neighbourhoods/:id"} {
			app.Get(actor, fed.Actor)
			app.Get(actor+"/outbox", fed.Outbox)
			app.Get(actor+"/followers", fed.Followers)
			app.Post(actor+"/inbox", limit, fed.Inbox)
		}
	}

	// The browser wallet: the only page that runs a script (its own, under wallet.CSP). Its
	// query (?invite=, ?petition=, ?lang=) is read by that script, never by the server.
	app.Get("/wallet", walletPage.HTML)
	app.Get(walletPage.ScriptURL(), walletPage.Script)         // /wallet/static/<hash>/wallet.js
	app.Get(walletPage.StylesheetURL(), walletPage.Stylesheet) // /wallet/static/<hash>/wallet.css

	// Anything else is a 404, counted under the route label "(unmatched)".
	app.Use(func(c *fiber.Ctx) error {
		c.Locals(routeLabel, unmatched)
		return errNotFound
	})
}

// machinePath reports whether path is in a namespace of the table that answers machines: the
// API, the tlog tiles below /ledger/ (but not the /ledger page), the probes, the metrics, and
// WebFinger and the ActivityPub collections and inboxes.
// Their errors are always JSON; every other path's error is a page for a browser (wantsPage).
func machinePath(path string) bool {
	first, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch first {
	case "api", "healthz", "readyz", "metrics":
		return true
	case "ledger":
		return rest != ""
	case ".well-known":
		return true
	case activitypub.CityActor, "neighbourhoods":
		return strings.HasSuffix(rest, "inbox") || strings.HasSuffix(rest, "outbox") || strings.HasSuffix(rest, "followers")
	}
	return false
}
