// Package pgident checks and quotes the PostgreSQL identifiers (schemas,
// table prefixes) that hookbus's PostgreSQL packages accept from
// configuration and write into SQL.
package pgident
