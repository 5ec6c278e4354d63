package deliverhelp

import (
	"net/mail"
	"strings"

	"goqmail/internal/addr"
	"goqmail/internal/prog"
)

// noticeField is the header field in which a sender asks for a delivery
// notice (qreceipt(1)).
const noticeField = "Notice-Requested-Upon-Delivery-To"

// Qreceipt is qreceipt ADDRESS, used in a .qmail file: if the message
// asks, in a Notice-Requested-Upon-Delivery-To field, for a notice of
// delivery to ADDRESS, it queues a short "success notice" to the
// envelope sender ($SENDER), from the empty sender so that it can never
// bounce back. It exits 0 whether or not a notice was sent, so the
// delivery goes on; 100 on a usage error or without SENDER, 111 when the
// message cannot be read or the notice cannot be queued.
//
// Decisions where qreceipt(1) is silent:
//   - Addresses are compared as mail addresses are: the local part
//     exactly, the domain case-insensitively; a field may hold several
//     addresses (an RFC 822 list, with or without display names).
//   - No notice goes to an empty sender or #@[] (a bounce), nor to a
//     sender holding NUL, CR or LF: there is no one to tell, and the
//     delivery itself must not fail for it.
//   - The notice quotes the original Message-ID field, if any, so the
//     sender can tell which message it is about.
func Qreceipt(ctx *prog.Context) int {
	if len(ctx.Args) != 2 || ctx.Args[1] == "" {
		return ctx.Usage("qreceipt deliveryaddress")
	}
	target := ctx.Args[1]
	sender, ok := ctx.Getenv("SENDER")
	if !ok {
		return ctx.Fatal(100, "SENDER not set")
	}
	fields, err := readHeader(ctx.Stdin, noticeField, "Message-ID")
	if err != nil {
		return ctx.Fatal(111, "unable to read message: %s", errText(err))
	}
	if sender == "" || sender == "#@[]" || !addr.EnvelopeSafe(sender) {
		return 0
	}
	asked := false
	msgID := ""
	for _, f := range fields {
		if strings.EqualFold(f.name, "Message-ID") {
			if msgID == "" {
				msgID = f.name + ":" + f.value
			}
			continue
		}
		for _, a := range fieldAddresses(f.value) {
			if sameAddress(a, target) {
				asked = true
			}
		}
	}
	if !asked {
		return 0
	}
	return queue(ctx, strings.NewReader(notice(sender, target, msgID)), "", "", []string{sender})
}

// notice is the text of the success notice.
func notice(sender, target, msgID string) string {
	var b strings.Builder
	b.WriteString("From: DELIVERY NOTICE SYSTEM <" + sender + ">\n")
	b.WriteString("To: <" + sender + ">\n")
	b.WriteString("Subject: success notice\n\n")
	b.WriteString("This is the qreceipt program, answering a delivery notice request.\n\n")
	b.WriteString("Your message has been delivered to " + target + ".\n")
	if msgID != "" {
		b.WriteString("\nIt was the message with this header field:\n" + msgID + "\n")
	}
	return b.String()
}

// fieldAddresses returns the addresses in a field's value: as an RFC 822
// address list if it parses as one, else each comma-separated piece with
// any angle brackets removed.
func fieldAddresses(v string) []string {
	v = strings.ReplaceAll(v, "\n", " ")
	if list, err := mail.ParseAddressList(v); err == nil {
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = a.Address
		}
		return out
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if i := strings.IndexByte(p, '<'); i >= 0 {
			p = p[i+1:]
			if j := strings.IndexByte(p, '>'); j >= 0 {
				p = p[:j]
			}
		}
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// sameAddress compares two addresses: local part exactly, domain in any
// case.
func sameAddress(a, b string) bool {
	la, da, _ := addr.Split(a)
	lb, db, _ := addr.Split(b)
	return la == lb && strings.EqualFold(da, db)
}
