;;;; A Common Lisp handler: _HANDLER=handler.handle
;;;;
;;;; lamina's Lisp adapter loads this file once into CL-USER, then calls (handle event context)
;;;; for each event. The event is the decoded JSON (an object is an EQUAL hash table with
;;;; string keys); an alist or hash table returned is sent back as a JSON object. A signalled
;;;; error fails the invocation: its condition type is the errorType, with a backtrace.

;; A condition type of its own: its name, INVALID-EVENT, becomes the errorType Lambda reports.
(define-condition invalid-event (error)
  ((reason :initarg :reason :reader invalid-event-reason))
  (:report (lambda (condition stream)
             (write-string (invalid-event-reason condition) stream))))

(defun handle (event context)
  (let ((name (and (hash-table-p event) (gethash "name" event))))
    (format *error-output* "request ~a: greeting '~a'~%"
            (lamina:context-aws-request-id context) (or name ""))
    (unless (and (stringp name) (plusp (length name)))
      (error 'invalid-event :reason "the event needs a \"name\", e.g. {\"name\":\"Ada\"}"))
    `(("message" . ,(format nil "Hello, ~a!" name)))))
