package health

// AppendFixed exposes appendFixed to the tests.
var AppendFixed = appendFixed
