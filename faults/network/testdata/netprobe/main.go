// Command netprobe is the workload of faults/network's container tests: from inside a
// container built FROM scratch (no shell, no tools) it dials and sends on request, so
// that a test on the host can measure what a fault does to the container's egress.
//
//	GET /dial?addr=HOST:PORT           200 "ok" when a TCP connection opens within 1s, else 502
//	GET /send?addr=HOST:PORT&bytes=N   sends N bytes and answers the seconds it took
//
// It also runs TCP sinks (read and discard) on the -sinks ports and prints "ready".
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	control := flag.String("control", ":8080", "HTTP control address")
	sinks := flag.String("sinks", "9000,9002", "comma-separated TCP ports to read and discard")
	flag.Parse()
	for _, p := range strings.Split(*sinks, ",") {
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "netprobe:", err)
			os.Exit(2)
		}
		go sink(ln)
	}
	ln, err := net.Listen("tcp", *control)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netprobe:", err)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		c, err := net.DialTimeout("tcp", r.URL.Query().Get("addr"), time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		c.Close()
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/send", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("bytes"))
		if err != nil || n <= 0 {
			http.Error(w, "bytes must be a positive number", http.StatusBadRequest)
			return
		}
		secs, err := send(r.URL.Query().Get("addr"), n)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "%f\n", secs)
	})
	fmt.Println("ready")
	http.Serve(ln, mux)
}

func sink(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() { io.Copy(io.Discard, c); c.Close() }()
	}
}

// send writes n bytes and waits for the peer to close, so that the time covers delivery.
func send(addr string, n int) (float64, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 64<<10)
	start := time.Now()
	for sent := 0; sent < n; {
		k, err := c.Write(buf[:min(len(buf), n-sent)])
		if err != nil {
			return 0, err
		}
		sent += k
	}
	c.(*net.TCPConn).CloseWrite()
	c.Read(make([]byte, 1))
	return time.Since(start).Seconds(), nil
}
