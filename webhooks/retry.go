package webhooks

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// RetryPolicy decides after each attempt whether to try again. It has the
// signature of retryablehttp.CheckRetry, so retryablehttp's own policies can
// be used or wrapped. A policy must not read or close the response body.
type RetryPolicy = retryablehttp.CheckRetry

// Backoff says how long to wait before the next attempt, given the wait
// bounds, the number of the attempt just made (0 for the first) and its
// response, if any. It has the signature of retryablehttp.Backoff.
type Backoff = retryablehttp.Backoff

// DefaultRetryPolicy retries network errors, timeouts and every non-2xx
// response except 410 Gone, which disables the webhook instead. Client errors
// (4xx) are retried too: the contract asks receivers for a 2xx, and a
// misconfigured receiver often recovers. Refused addresses, invalid URLs and
// untrusted certificates are not retried (retryablehttp's own judgement of
// transport errors), nor is anything once ctx is done; a 2xx that arrived
// is a success even then, since the receiver has the event.
func DefaultRetryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if err == nil && isSuccess(resp.StatusCode) {
		return false, nil
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		if errors.Is(err, ErrAddressBlocked) {
			return false, err
		}
		return retryablehttp.ErrorPropagatedRetryPolicy(ctx, resp, err)
	}
	return !isSuccess(resp.StatusCode) && resp.StatusCode != http.StatusGone, nil
}

// ServerErrorRetryPolicy is DefaultRetryPolicy except that it gives up at once
// on 3xx and 4xx responses other than 408 Request Timeout and 429 Too Many
// Requests. Use it when receivers answer 4xx only for requests that will never
// succeed.
func ServerErrorRetryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	retry, perr := DefaultRetryPolicy(ctx, resp, err)
	if !retry || resp == nil {
		return retry, perr
	}
	switch code := resp.StatusCode; {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return true, nil
	case code < 500:
		return false, nil
	}
	return true, nil
}

// DefaultBackoff waits min·2^attemptNum with equal jitter (between half and
// all of it), at most max. On 429 and 503 it honours the response's
// Retry-After header, in seconds or as an HTTP date, capped at max.
// Unlike retryablehttp.DefaultBackoff it never waits longer than max, so a
// receiver cannot park a worker for an arbitrary time.
func DefaultBackoff(minWait, maxWait time.Duration, attemptNum int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return min(d, maxWait)
		}
	}
	wait := minWait
	for i := 0; i < attemptNum && wait < maxWait; i++ {
		wait *= 2
	}
	wait = min(wait, maxWait)
	if half := wait / 2; half > 0 {
		wait = half + rand.N(half+1)
	}
	return wait
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	const longest = 24 * time.Hour
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		// Clamp before multiplying so absurd values cannot overflow.
		return time.Duration(min(secs, int64(longest/time.Second))) * time.Second, true
	} else if errors.Is(err, strconv.ErrRange) && v[0] != '-' {
		return longest, true // more seconds than an int64 holds
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

func isSuccess(code int) bool { return code >= 200 && code < 300 }
