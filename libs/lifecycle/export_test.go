package lifecycle

import "os"

// NewSignalsForTest lets tests deliver signals without touching the process.
func NewSignalsForTest(log Logger, ch *chan<- os.Signal) *Signals {
	return newSignals(log, func(c chan<- os.Signal, _ ...os.Signal) { *ch = c })
}

// NewNotifierForTest records what would be sent.
func NewNotifierForTest(sent *[]string) *Notifier {
	return &Notifier{send: func(s string) (bool, error) { *sent = append(*sent, s); return true, nil }}
}
