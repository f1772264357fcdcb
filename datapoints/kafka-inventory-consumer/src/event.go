package main

import (
	"encoding/json"
	"fmt"
)

// Event is one inventory change published by the order, receiving and
// stocktake services. An order reserves several lines at once.
type Event struct {
	EventID string `json:"event_id"`
	Type    string `json:"type"`
	Lines   []Line `json:"lines"`

	Partition int32 `json:"-"`
	Offset    int64 `json:"-"`
}

// Line is the change for one product: positive for restocks and returns,
// negative for orders and shrinkage.
type Line struct {
	SKU   string `json:"sku"`
	Delta int    `json:"delta"`
}

func decodeEvent(raw []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ev, err
	}
	if ev.EventID == "" {
		return ev, fmt.Errorf("event without event_id")
	}
	if len(ev.Lines) == 0 {
		return ev, fmt.Errorf("event %s has no lines", ev.EventID)
	}
	return ev, nil
}
