package store_test

import (
	"testing"

	"github.com/clinicpix/backend/shared/testenv"
)

// TestMain is shared by every test file of the package: testenv.Main stops DynamoDB Local.
func TestMain(m *testing.M) { testenv.Main(m) }
