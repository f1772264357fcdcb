package main

import (
	"log"
	"sort"

	"github.com/Shopify/sarama"
)

// handler feeds the messages of every claimed partition to the processor.
type handler struct {
	proc   *Processor
	logger *log.Logger
}

func (h *handler) Setup(sess sarama.ConsumerGroupSession) error {
	h.logger.Printf("partitions assigned generation=%d partitions=%v", sess.GenerationID(), claimed(sess))
	return nil
}

func (h *handler) Cleanup(sess sarama.ConsumerGroupSession) error {
	h.logger.Printf("partitions revoked generation=%d", sess.GenerationID())
	return nil
}

func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		ev, err := decodeEvent(msg.Value)
		if err != nil {
			h.logger.Printf("skipping undecodable message partition %d offset %d: %v", msg.Partition, msg.Offset, err)
			sess.MarkMessage(msg, "")
			continue
		}
		ev.Partition, ev.Offset = msg.Partition, msg.Offset
		sess.MarkMessage(msg, "")
		h.proc.Submit(ev)
	}
	return nil
}

func claimed(sess sarama.ConsumerGroupSession) []int32 {
	var parts []int32
	for _, ps := range sess.Claims() {
		parts = append(parts, ps...)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	return parts
}
