// Package mail sends the service's email through one interface: Amazon SES in AWS and an
// in-memory mailbox in the local runner.
package mail

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// Message is one plain-text email. Bodies may carry one-time codes and reset links, so they are
// never logged outside the local mailbox.
type Message struct {
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Body    string    `json:"body"`
	SentAt  time.Time `json:"sent_at"`
}

// Sender sends a message.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SESClient is the part of the SES v2 client that SES uses.
type SESClient interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, opts ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

var _ SESClient = (*sesv2.Client)(nil)

// SES sends through Amazon SES.
type SES struct {
	Client SESClient
	From   string
}

// Send sends m through SES.
func (s *SES) Send(ctx context.Context, m Message) error {
	_, err := s.Client.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(s.From),
		Destination:      &types.Destination{ToAddresses: []string{m.To}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String(m.Subject), Charset: aws.String("UTF-8")},
			Body: &types.Body{Text: &types.Content{Data: aws.String(m.Body),
				Charset: aws.String("UTF-8")}},
		}},
	})
	return err
}

// Mailbox keeps messages in memory for the local runner and tests. It is never wired into a
// Lambda function.
type Mailbox struct {
	mu       sync.Mutex
	messages []Message
	// OnSend, when set, is called with each message (the runner prints it to its log).
	OnSend func(Message)
	Now    func() time.Time
}

// Send stores m.
func (b *Mailbox) Send(_ context.Context, m Message) error {
	b.mu.Lock()
	if b.Now != nil {
		m.SentAt = b.Now().UTC()
	} else {
		m.SentAt = time.Now().UTC()
	}
	b.messages = append(b.messages, m)
	onSend := b.OnSend
	b.mu.Unlock()
	if onSend != nil {
		onSend(m)
	}
	return nil
}

// Messages returns a copy of every message, oldest first.
func (b *Mailbox) Messages() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message(nil), b.messages...)
}
