package store

// RetentionSelectSQL exposes the retention batch query to the plan test.
const RetentionSelectSQL = retentionSelectSQL

// RetentionDeleteSQL exposes the retention DELETE to the plan test.
func RetentionDeleteSQL(n int) string { return retentionDeleteSQL(n) }
