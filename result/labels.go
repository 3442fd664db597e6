package result

import (
	"fmt"
	"sort"
	"strings"
)

// LabelString renders labels as {a="b", c="d"} in name order: the identity of a series.
func LabelString(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s=%q", k, labels[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
