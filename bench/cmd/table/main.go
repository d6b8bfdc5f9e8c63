// Command table reads `go test -bench` output on stdin and prints a Markdown table of
// the medians, grouping each benchmark's implementations (the last path element: tfc,
// go-tfe, raw, …) and giving each one's ratio to tfc.
package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

type key struct{ group, impl string }

func main() {
	values := map[key]map[string][]float64{}
	var order []key
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i] // the GOMAXPROCS suffix
		}
		k := key{name, ""}
		if i := strings.LastIndex(name, "/"); i > 0 {
			k = key{name[:i], name[i+1:]}
		}
		if values[k] == nil {
			values[k] = map[string][]float64{}
			order = append(order, k)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				values[k][f[i+1]] = append(values[k][f[i+1]], v)
			}
		}
	}
	fmt.Println("| benchmark | impl | ns/op | B/op | allocs/op | other (median) | time vs tfc | allocs vs tfc |")
	fmt.Println("|---|---|---:|---:|---:|---|---:|---:|")
	for _, k := range order {
		m := values[k]
		base := values[key{k.group, "tfc"}]
		var other []string
		for unit, vs := range m {
			if unit != "ns/op" && unit != "B/op" && unit != "allocs/op" && unit != "MB/s" {
				other = append(other, fmt.Sprintf("%s %s", format(median(vs)), unit))
			}
		}
		slices.Sort(other)
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", k.group, k.impl,
			format(median(m["ns/op"])), format(median(m["B/op"])), format(median(m["allocs/op"])),
			strings.Join(other, ", "), ratio(m, base, "ns/op", k.impl), ratio(m, base, "allocs/op", k.impl))
	}
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return -1
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[len(s)/2]
}

func format(v float64) string {
	switch {
	case v < 0:
		return ""
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

// ratio is impl's value over tfc's, as "4.7×" (tfc is that many times better).
func ratio(m, base map[string][]float64, unit, impl string) string {
	if impl == "tfc" || base == nil || len(m[unit]) == 0 || len(base[unit]) == 0 || median(base[unit]) == 0 {
		return ""
	}
	return strconv.FormatFloat(median(m[unit])/median(base[unit]), 'f', 2, 64) + "×"
}
