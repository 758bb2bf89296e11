package breaker

import (
	"log/slog"
	"time"
)

// Gauge is what Report sets: a prometheus.Gauge satisfies it.
type Gauge interface{ Set(float64) }

// Report returns an Options.OnChange that keeps gauge (when not nil) at the
// state's Gauge value and logs every change, naming what the breaker
// guards: closing at INFO, opening and half-opening at WARN with the
// cooldown.
func Report(what string, gauge Gauge, log *slog.Logger, cooldown time.Duration) func(from, to State) {
	return func(from, to State) {
		if gauge != nil {
			gauge.Set(to.Gauge())
		}
		if to == Closed {
			log.Info(what+" circuit breaker closed", "from", from.String())
			return
		}
		log.Warn(what+" circuit breaker "+to.String(), "from", from.String(), "cooldown", cooldown)
	}
}
