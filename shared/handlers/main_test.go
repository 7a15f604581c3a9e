package handlers

import (
	"testing"

	"github.com/clinicpix/backend/shared/testenv"
)

// TestMain lets the handler tests share one DynamoDB Local, which testenv.Main stops at the end.
func TestMain(m *testing.M) { testenv.Main(m) }
