package state

import "github.com/hashicorp/go-memdb"

// Table names.
const (
	tablePurposes   = "purposes"
	tableInvites    = "invites"
	tableCitizens   = "citizens"
	tableConsents   = "consents"
	tablePetitions  = "petitions"
	tableNullifiers = "nullifiers"
	tableDays       = "petition_days"
	tableOrganisers = "organisers"
	tableProposals  = "proposals"
	tableApprovals  = "approvals"
)

// schema is the whole read model. Every object has a string Key as its primary id; secondary
// indexes are named after the field they index.
func schema() *memdb.DBSchema {
	key := &memdb.IndexSchema{Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}}
	simple := func(name string, extra ...*memdb.IndexSchema) *memdb.TableSchema {
		idx := map[string]*memdb.IndexSchema{"id": key}
		for _, e := range extra {
			idx[e.Name] = e
		}
		return &memdb.TableSchema{Name: name, Indexes: idx}
	}
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tablePurposes: simple(tablePurposes,
			&memdb.IndexSchema{Name: "purpose", Indexer: &memdb.StringFieldIndex{Field: "ID"}}),
		tableInvites:    simple(tableInvites),
		tableCitizens:   simple(tableCitizens),
		tableConsents:   simple(tableConsents),
		tablePetitions:  simple(tablePetitions),
		tableNullifiers: simple(tableNullifiers),
		tableDays: simple(tableDays,
			&memdb.IndexSchema{Name: "petition", Indexer: &memdb.StringFieldIndex{Field: "Petition"}}),
		tableOrganisers: simple(tableOrganisers),
		tableProposals: simple(tableProposals,
			&memdb.IndexSchema{Name: "purpose", Indexer: &memdb.StringFieldIndex{Field: "ID"}}),
		tableApprovals: simple(tableApprovals),
	}}
}
