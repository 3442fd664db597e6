package serve

import (
	"github.com/faultline/faultline/serve/history"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are serve's own, on a registry of its own (no global state).
type metrics struct {
	registry     *prometheus.Registry
	runs         *prometheus.CounterVec
	lastScore    *prometheus.GaugeVec
	lastRecovery *prometheus.GaugeVec
	duration     *prometheus.HistogramVec
	faultActive  *prometheus.GaugeVec
	collector    *scheduleCollector
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "faultline_runs_total",
			Help: "Runs recorded since serve started, by experiment, schedule and status (passed, failed, aborted, interrupted, error, skipped)."},
			[]string{"experiment", "schedule", "status"}),
		lastScore: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "faultline_last_score",
			Help: "Resilience score (0-100) of the experiment's last run that had checks."}, []string{"experiment"}),
		lastRecovery: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "faultline_last_time_to_recover_seconds",
			Help: "Slowest time to recover of any series in the experiment's last run that recovered."}, []string{"experiment"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "faultline_run_duration_seconds",
			Help:    "Wall time of runs that started, from start to recorded.",
			Buckets: []float64{5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600}}, []string{"experiment"}),
		faultActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "faultline_fault_active",
			Help: "1 while a fault is injected (from its injection until its revert), for fault windows as Grafana annotations."},
			[]string{"experiment", "fault", "kind", "target"}),
		collector: &scheduleCollector{},
	}
	m.registry.MustRegister(m.runs, m.lastScore, m.lastRecovery, m.duration, m.faultActive, m.collector,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// restore sets the last-score and last-recovery gauges from the history, so that a
// restarted service shows what the last runs measured instead of nothing until each
// experiment runs again. The counters start from 0, as counters do after a restart.
func (m *metrics) restore(store *history.Store) error {
	exps, err := store.Experiments()
	if err != nil {
		return err
	}
	for _, e := range exps {
		runs, err := store.List(history.Filter{Experiment: e})
		if err != nil {
			return err
		}
		score, recovery := false, false
		for _, r := range runs { // newest first
			if r.Status == history.StatusSkipped {
				continue
			}
			if !score && r.Score != nil {
				m.lastScore.WithLabelValues(e).Set(*r.Score)
				score = true
			}
			if !recovery && r.TimeToRecover != nil {
				m.lastRecovery.WithLabelValues(e).Set(*r.TimeToRecover)
				recovery = true
			}
			if score && recovery {
				break
			}
		}
	}
	return nil
}

func (m *metrics) observe(r *history.Run) {
	m.runs.WithLabelValues(r.Experiment, r.Schedule, r.Status).Inc()
	if r.Status == history.StatusSkipped {
		return
	}
	if r.Score != nil {
		m.lastScore.WithLabelValues(r.Experiment).Set(*r.Score)
	}
	if r.TimeToRecover != nil {
		m.lastRecovery.WithLabelValues(r.Experiment).Set(*r.TimeToRecover)
	}
	if d := r.Duration(); d > 0 {
		m.duration.WithLabelValues(r.Experiment).Observe(d.Seconds())
	}
}

var (
	nextStartDesc = prometheus.NewDesc("faultline_schedule_next_start_timestamp_seconds",
		"When the schedule next starts a run (jitter included), as a Unix time.", []string{"schedule", "experiment"}, nil)
	pausedDesc = prometheus.NewDesc("faultline_schedule_paused",
		"1 while the schedule is paused (by hand or by HALT).", []string{"schedule"}, nil)
	runningDesc = prometheus.NewDesc("faultline_runs_running", "Runs going now.", nil, nil)
	haltedDesc  = prometheus.NewDesc("faultline_halted", "1 after HALT until resumed.", nil, nil)
)

// scheduleCollector reads the schedules' state at scrape time.
type scheduleCollector struct{ service *Service }

func (c *scheduleCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- nextStartDesc
	ch <- pausedDesc
	ch <- runningDesc
	ch <- haltedDesc
}

func (c *scheduleCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.service
	if s == nil {
		return
	}
	running := 0
	for _, v := range s.Schedules() {
		if !v.NextStart.IsZero() {
			ch <- prometheus.MustNewConstMetric(nextStartDesc, prometheus.GaugeValue, float64(v.NextStart.UnixMilli())/1000, v.Name, v.Experiment)
		}
		paused := 0.0
		if v.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, paused, v.Name)
		running += len(v.Running)
	}
	ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, float64(running))
	halted := 0.0
	if s.Halted() != "" {
		halted = 1
	}
	ch <- prometheus.MustNewConstMetric(haltedDesc, prometheus.GaugeValue, halted)
}
