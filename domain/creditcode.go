package domain

import (
	"strings"
)

// creditCodeChars are the 31 characters of a 统一社会信用代码 (GB 32100-2015
// §4.2: the digits and the capitals without I, O, Z, S and V), each worth
// its index.
const creditCodeChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// creditCodeWeights weigh characters 1–17 (GB 32100-2015 §4.3: 3^(i-1) mod 31).
var creditCodeWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// Codes of the applicant's company and contact details.
const (
	CodeCreditCodeInvalid   = "credit_code_invalid"
	CodeContactPhoneInvalid = "contact_phone_invalid"
)

// CheckCreditCode checks a unified social credit code (统一社会信用代码): 18
// characters from the standard's set whose last is the check character
// over the first 17 (GB 32100-2015 §4.3). It returns the code in capitals.
func CheckCreditCode(code string) (string, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	bad := Coded(ErrInvalid, CodeCreditCodeInvalid, "credit_code must be an 18-character unified social credit code whose check character matches (GB 32100-2015)")
	if len(code) != 18 {
		return "", bad
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := strings.IndexByte(creditCodeChars, code[i])
		if v < 0 {
			return "", bad
		}
		sum += v * creditCodeWeights[i]
	}
	if code[17] != creditCodeChars[(31-sum%31)%31] {
		return "", bad
	}
	return code, nil
}

// CheckContactPhone checks a contact phone number: 5 to 20 characters of
// digits, spaces, '+' and '-', with at least 5 digits (a mobile number, or
// a landline with its area code and extension).
func CheckContactPhone(phone string) (string, error) {
	phone = strings.TrimSpace(phone)
	digits := 0
	for _, r := range phone {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == ' ' || r == '+' || r == '-':
		default:
			return "", Coded(ErrInvalid, CodeContactPhoneInvalid, "contact_phone may hold digits, spaces, + and - only")
		}
	}
	if digits < 5 || len(phone) > 20 {
		return "", Coded(ErrInvalid, CodeContactPhoneInvalid, "contact_phone must have 5 to 20 characters with at least 5 digits")
	}
	return phone, nil
}
