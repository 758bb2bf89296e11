package dynamo

import "time"

// SetClock makes w's circuit breaker read the time from now, so tests can
// step over the cooldown. Call it before using w.
func SetClock(w *Writer, now func() time.Time) { w.br.SetClock(now) }
