package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/dashboards"
	"github.com/commons-city/commons/dashboards/wallet"
)

// routes is the whole route table.
func (a *handlers) routes(app *fiber.App, pages *dashboards.Pages, walletPage *wallet.Page) {
	app.Use(requestID(), a.observe(app.Config().ErrorHandler), securityHeaders, a.timeout)
	limit := a.rateLimit() // POST only, per client IP, shared by every route it guards

	app.Get("/healthz", a.healthz)
	app.Get("/readyz", a.readyz)
	app.Get("/metrics", a.Metrics.handler())

	v1 := app.Group("/api/v1")
	v1.Get("/purposes", a.listPurposes)
	v1.Get("/neighbourhoods", a.neighbourhoods)
	v1.Post("/citizens", limit, a.register)
	v1.Post("/statements", limit, a.statement)
	v1.Post("/contributions", limit, a.countContributions, a.contribute)
	v1.Post("/vault", limit, a.exportVault)
	v1.Get("/stats/air", a.statsAir)
	v1.Get("/petitions", a.listPetitions)
	v1.Get("/petitions/:id", a.getPetition)
	v1.Post("/petitions", limit, a.createPetition)
	v1.Post("/petitions/:id/paper", limit, a.enterPaper)

	v1.Get("/ledger/checkpoint", a.checkpoint)
	v1.Get("/ledger/key", a.verifierKey)
	v1.Get("/ledger/entries/:index", a.entry)
	v1.Get("/ledger/proof/inclusion", a.inclusionProof)
	v1.Get("/ledger/proof/consistency", a.consistencyProof)

	admin := v1.Group("/admin", limit, a.requireAdmin)
	admin.Post("/invites", a.createInvites)
	admin.Post("/organisers", a.grantOrganiser)
	admin.Delete("/organisers/:citizen", a.revokeOrganiser)
	admin.Post("/releases", a.runReleases)
	admin.Get("/backup", a.backup)

	// C2SP tlog-tiles, so standard tools can mirror the log.
	app.Get("/ledger/checkpoint", a.checkpoint)
	app.Get("/ledger/tile/*", a.tile)

	pages.Mount(app)
	walletPage.Mount(app) // GET /wallet: the only page that runs a script (its own)

	app.Use(func(c *fiber.Ctx) error {
		c.Locals(routeLabel, unmatched)
		return errNotFound
	})
}
