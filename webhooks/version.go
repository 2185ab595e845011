package webhooks

// Version is the hookbus release, sent in the User-Agent header as
// "hookbus/<Version>".
const Version = "0.1.0"
