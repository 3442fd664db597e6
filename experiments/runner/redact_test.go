package runner

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/faultline/faultline/result"
)

func TestSensitiveValuesReachNoResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const secret = "tok-3f9a2c"
		fx := newFixture(t, []string{"a"}, spec("pause", "freeze", 2*time.Second, 3*time.Second))
		fx.exp.SensitiveValues = []string{secret}
		fx.exp.Variables = map[string]string{"token": "(sensitive)"}
		fx.exp.Metrics[0].Query = fmt.Sprintf(`up{token=%q}`, secret)
		fx.exp.Description = "uses " + secret
		fx.sample(func(time.Duration) (float64, error) { return 0, fmt.Errorf("server echoed %s", secret) })
		res := mustRun(t, context.Background(), fx.cfg)
		var buf bytes.Buffer
		if err := result.WriteJSON(&buf, res); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), secret) {
			t.Fatalf("the result carries the sensitive value:\n%s", buf.String())
		}
		if !strings.Contains(res.Metrics[0].Query, `token="(sensitive)"`) {
			t.Errorf("query %q does not show where the value was", res.Metrics[0].Query)
		}
	})
}
