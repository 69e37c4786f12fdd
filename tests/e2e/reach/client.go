// The reach matrix's Go client: net/http's default client, which takes its proxy from
// http_proxy / https_proxy (ProxyFromEnvironment) and its CA from SSL_CERT_FILE. One line per URL:
// index, status (0 when the request failed), and the start of the body or the error, on one line.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func oneLine(s string) string {
	if len(s) > 300 {
		s = s[:300]
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r", ""), "\n", `\n`)
}

func main() {
	client := &http.Client{Timeout: 15 * time.Second}
	for i, url := range os.Args[1:] {
		resp, err := client.Get(url)
		if err != nil {
			fmt.Printf("%d\t0\t%s\n", i, oneLine(err.Error()))
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		fmt.Printf("%d\t%d\t%s\n", i, resp.StatusCode, oneLine(string(body)))
	}
}
