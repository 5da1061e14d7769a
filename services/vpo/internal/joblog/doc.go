// Package joblog keeps with each job the log lines that name it: a logrus
// hook takes every entry that carries a job_id field (the worker pool's
// lines about a run, the handlers' own) without ever blocking the logger,
// and a writer stores them in batches (store.AppendJobLogs, bounded per
// job) so that GET /api/jobs/{id}/log, `vpo jobs logs` and the dashboard
// can show one job's log.
package joblog
