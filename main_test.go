package main

import (
	"testing"

	"siteinspect/internal/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
