package scan

import (
	"context"
	"errors"
)

// Watch rescans each time the controller reports that namespaces changed
// (the "namespace attribute changed" asynchronous event): it reads the
// Changed Namespace List log, which re-arms the event, then scans, and
// passes the result to report. It returns when ctx is done or the
// controller stops.
func (s *Scanner) Watch(ctx context.Context, report func(*Result, error)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-s.Ctrl.Events():
			if !ok {
				if err := s.Ctrl.Err(); err != nil {
					return err
				}
				return errors.New("controller stopped")
			}
			if !ev.NamespaceChanged() {
				continue
			}
			if _, err := s.Ctrl.ChangedNamespaces(ctx); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				report(nil, err)
				continue
			}
			res, err := s.Scan(ctx)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			report(res, err)
		}
	}
}
