package h1_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/hookbus/hookbus/internal/h1"
)

func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	}))
	defer srv.Close()

	tr := h1.New(h1.Config{Timeout: 5 * time.Second})
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	resp, err := client.Post(srv.URL+"/hooks", "application/json", strings.NewReader(`{"id":1}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body) // read to the end: the connection goes back to the pool
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Proto, resp.Status)
	fmt.Println(string(body))
	// Output:
	// HTTP/1.1 200 OK
	// POST /hooks {"id":1}
}
