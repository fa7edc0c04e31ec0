package domain

import (
	"errors"
	"testing"
)

func TestCheckCreditCode(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"914403001922038216", "914403001922038216"},
		{"9144030071526726XG", "9144030071526726XG"},
		{" 91330100716105852f ", "91330100716105852F"},
	} {
		got, err := CheckCreditCode(c.in)
		if err != nil || got != c.want {
			t.Errorf("CheckCreditCode(%q): got %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "914403001922038217", "91440300192203821", "9144030019220382166", "9144030019220382I6", "91440300192203821O"} {
		_, err := CheckCreditCode(in)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeCreditCodeInvalid {
			t.Errorf("CheckCreditCode(%q): got %v, want %s", in, err, CodeCreditCodeInvalid)
		}
	}
}

func TestCheckContactPhone(t *testing.T) {
	for _, in := range []string{"13800138000", "+86 138 0013 8000", "022-2345 6789"} {
		if got, err := CheckContactPhone(" " + in); err != nil || got != in {
			t.Errorf("CheckContactPhone(%q): got %q, %v; want it kept", in, got, err)
		}
	}
	for _, in := range []string{"1234", "138x0013800", "+86 138 0013 8000 0000 1"} {
		if _, err := CheckContactPhone(in); err == nil {
			t.Errorf("CheckContactPhone(%q): got no error, want %s", in, CodeContactPhoneInvalid)
		}
	}
}
