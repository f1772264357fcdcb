package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Warehouse mirrors stock levels to the warehouse management system.
type Warehouse interface {
	PublishLevel(ctx context.Context, sku string, level int) error
}

// httpWarehouse is the WMS client: one POST of the new level per change.
type httpWarehouse struct {
	url    string
	client *http.Client
}

func newWarehouse(url string) Warehouse {
	if url == "" {
		return noWarehouse{}
	}
	return &httpWarehouse{
		url: url,
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 64},
		},
	}
}

func (w *httpWarehouse) PublishLevel(ctx context.Context, sku string, level int) error {
	body, err := json.Marshal(map[string]interface{}{"sku": sku, "level": level})
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, w.url+"/levels", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req = req.WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("warehouse: %s", resp.Status)
	}
	return nil
}

// noWarehouse is used when WAREHOUSE_URL is not set (local development).
type noWarehouse struct{}

func (noWarehouse) PublishLevel(context.Context, string, int) error { return nil }
