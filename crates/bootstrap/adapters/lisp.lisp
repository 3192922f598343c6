;;;; lamina's Common Lisp adapter: serves a FILE.FUNCTION handler as a worker (PROTOCOL.md).
;;;;
;;;; The bootstrap runs `sbcl --script lisp.lisp /var/task/FILE.lisp FUNCTION` with the
;;;; protocol on the descriptors named by LAMINA_PROTOCOL_IN / LAMINA_PROTOCOL_OUT. The file
;;;; is loaded once into CL-USER; (FUNCTION event context) is called per invocation.
;;;;
;;;; * event: the decoded JSON when the event is UTF-8 JSON, else the raw octets. JSON to
;;;;   Lisp: object -> EQUAL hash table with string keys, array -> simple vector, string ->
;;;;   string, integer -> integer, other number -> double-float, true -> T, false -> :FALSE,
;;;;   null -> :NULL.
;;;; * result: a string is sent as its UTF-8 bytes, an octet vector as it is, anything else
;;;;   as JSON: hash table or alist ((key . value) ...) -> object (string or symbol keys; a
;;;;   symbol's name downcased), other list or vector -> array, T/:TRUE -> true,
;;;;   :FALSE -> false, NIL/:NULL -> null, real -> number, symbol -> its name downcased.
;;;; * a signalled error (any SERIOUS-CONDITION): an invocation error whose type is the
;;;;   condition's type (SIMPLE-ERROR, TYPE-ERROR, INVALID-EVENT, ...), the message its
;;;;   report, and the stack SBCL's backtrace from where it was signalled; the worker keeps
;;;;   serving.
;;;; * streaming: (lamina:stream context :content-type "text/plain") (or :http with a
;;;;   hash table/alist of statusCode, headers, cookies for a Function URL response) returns
;;;;   a function; each (funcall write string-or-octets) is sent at once as a chunk. The
;;;;   handler's return value is then ignored, and an error after the stream started ends it
;;;;   with the error.
;;;;
;;;; JSON is read and written here (LAMINA:PARSE-JSON, LAMINA:TO-JSON) rather than by a
;;;; library: SBCL ships none, Quicklisp needs the network when the layer is built and a
;;;; file to load at every start, and what Lambda sends (UTF-8 JSON, RFC 8259) takes ~150
;;;; lines; a handler may load its own library from its task root.

(defpackage :lamina
  (:use :common-lisp)
  (:shadow #:stream)
  (:export #:stream #:parse-json #:to-json #:remaining-time-ms
           #:context #:context-aws-request-id #:context-deadline-ms
           #:context-invoked-function-arn #:context-trace-id #:context-client-context
           #:context-identity #:context-tenant-id #:context-function-name
           #:context-function-version #:context-memory-limit-in-mb
           #:context-log-group-name #:context-log-stream-name))

(in-package :lamina)

(defconstant +protocol-version+ 2)
(defconstant +max-header-line+ 1024)
(defconstant +max-depth+ 1000 "Nesting depth of JSON read: deeper is not taken as JSON.")

;;; UTF-8

(defun utf8 (string)
  (sb-ext:string-to-octets string :external-format :utf-8))

(defun from-utf8 (octets)
  "The text of OCTETS, NIL when they are not UTF-8."
  (handler-case (sb-ext:octets-to-string octets :external-format :utf-8)
    (error () nil)))

;;; JSON reader

(define-condition json-error (error)
  ((reason :initarg :reason :reader json-error-reason))
  (:report (lambda (c s) (format s "not JSON: ~a" (json-error-reason c)))))

(defun parse-json (text)
  "The Lisp value of the JSON TEXT (a string); signals JSON-ERROR when it is not JSON."
  (let ((pos 0) (end (length text)))
    (labels ((fail (what) (error 'json-error :reason (format nil "~a at character ~d" what pos)))
             (peek () (if (< pos end) (char text pos) nil))
             (skip-space ()
               (loop while (and (< pos end) (member (char text pos) '(#\Space #\Tab #\Newline #\Return)))
                     do (incf pos)))
             (expect (string)
               (if (and (<= (+ pos (length string)) end)
                        (string= string text :start2 pos :end2 (+ pos (length string))))
                   (incf pos (length string))
                   (fail (format nil "expected ~a" string))))
             (value (depth)
               (when (> depth +max-depth+) (fail "nested too deep"))
               (skip-space)
               (let ((c (peek)))
                 (case c
                   (#\{ (incf pos) (object depth))
                   (#\[ (incf pos) (array depth))
                   (#\" (incf pos) (json-string))
                   (#\t (expect "true") t)
                   (#\f (expect "false") :false)
                   (#\n (expect "null") :null)
                   (t (if (and c (or (char= c #\-) (digit-char-p c)))
                          (json-number)
                          (fail "unexpected character"))))))
             (object (depth)
               (let ((table (make-hash-table :test 'equal)))
                 (skip-space)
                 (when (eql (peek) #\}) (incf pos) (return-from object table))
                 (loop
                   (skip-space)
                   (unless (eql (peek) #\") (fail "expected a string key"))
                   (incf pos)
                   (let ((key (json-string)))
                     (skip-space)
                     (expect ":")
                     (setf (gethash key table) (value (1+ depth))))
                   (skip-space)
                   (case (peek)
                     (#\, (incf pos))
                     (#\} (incf pos) (return table))
                     (t (fail "expected , or }"))))))
             (array (depth)
               (let ((items '()))
                 (skip-space)
                 (when (eql (peek) #\]) (incf pos) (return-from array (vector)))
                 (loop
                   (push (value (1+ depth)) items)
                   (skip-space)
                   (case (peek)
                     (#\, (incf pos))
                     (#\] (incf pos) (return (coerce (nreverse items) 'simple-vector)))
                     (t (fail "expected , or ]"))))))
             (hex4 ()
               (when (> (+ pos 4) end) (fail "short \\u escape"))
               (let ((code (parse-integer text :start pos :end (+ pos 4) :radix 16 :junk-allowed t)))
                 (unless (and code (every (lambda (ch) (digit-char-p ch 16)) (subseq text pos (+ pos 4))))
                   (fail "bad \\u escape"))
                 (incf pos 4)
                 code))
             (json-string ()
               (with-output-to-string (out)
                 (loop
                   (when (>= pos end) (fail "unterminated string"))
                   (let ((c (char text pos)))
                     (incf pos)
                     (cond ((char= c #\") (return))
                           ((< (char-code c) 32) (fail "control character in a string"))
                           ((char/= c #\\) (write-char c out))
                           (t
                            (when (>= pos end) (fail "unterminated escape"))
                            (let ((e (char text pos)))
                              (incf pos)
                              (case e
                                (#\" (write-char #\" out))
                                (#\\ (write-char #\\ out))
                                (#\/ (write-char #\/ out))
                                (#\b (write-char (code-char 8) out))
                                (#\f (write-char (code-char 12) out))
                                (#\n (write-char (code-char 10) out))
                                (#\r (write-char (code-char 13) out))
                                (#\t (write-char (code-char 9) out))
                                (#\u
                                 (let ((code (hex4)))
                                   ;; A surrogate pair is one character; a lone surrogate
                                   ;; becomes U+FFFD (Lisp strings hold no surrogates).
                                   (cond ((and (<= #xD800 code #xDBFF)
                                               (<= (+ pos 6) end)
                                               (char= (char text pos) #\\)
                                               (char= (char text (1+ pos)) #\u))
                                          (incf pos 2)
                                          (let ((low (hex4)))
                                            (if (<= #xDC00 low #xDFFF)
                                                (write-char (code-char (+ #x10000 (ash (- code #xD800) 10) (- low #xDC00))) out)
                                                (progn (write-char (code-char #xFFFD) out)
                                                       (decf pos 6)))))
                                         ((<= #xD800 code #xDFFF) (write-char (code-char #xFFFD) out))
                                         (t (write-char (code-char code) out)))))
                                (t (fail "bad escape"))))))))))
             (digits ()
               (let ((start pos))
                 (loop while (and (< pos end) (digit-char-p (char text pos))) do (incf pos))
                 (when (= start pos) (fail "expected a digit"))
                 (values (parse-integer text :start start :end pos) (- pos start))))
             (json-number ()
               (let ((negative (when (eql (peek) #\-) (incf pos) t))
                     (start pos)
                     (mantissa 0) (scale 0) (exponent 0) (integer t))
                 (setf mantissa (digits))
                 (when (and (char= (char text start) #\0) (> (- pos start) 1))
                   (fail "leading zero"))
                 (when (eql (peek) #\.)
                   (incf pos)
                   (setf integer nil)
                   (multiple-value-bind (fraction count) (digits)
                     (setf mantissa (+ (* mantissa (expt 10 count)) fraction)
                           scale count)))
                 (when (member (peek) '(#\e #\E))
                   (incf pos)
                   (setf integer nil)
                   (let ((sign (case (peek) (#\- (incf pos) -1) (#\+ (incf pos) 1) (t 1))))
                     (setf exponent (* sign (digits)))))
                 (let ((power (- exponent scale)))
                   (cond (integer (if negative (- mantissa) mantissa))
                         ((zerop mantissa) (if negative -0d0 0d0))
                         ;; Far outside a double's range: no (expt 10 huge) bignum.
                         ((> power 400) (fail "number out of range"))
                         ((< power -400) (if negative -0d0 0d0))
                         (t (let ((value (handler-case (coerce (* mantissa (expt 10 power)) 'double-float)
                                           (error () (fail "number out of range")))))
                              (if negative (- value) value))))))))
      (let ((result (value 0)))
        (skip-space)
        (when (< pos end) (fail "text after the value"))
        result))))

;;; JSON writer

(defun json-key (key)
  (etypecase key
    (string key)
    (symbol (string-downcase (symbol-name key)))
    (integer (princ-to-string key))))

(defun alistp (value)
  (and (consp value)
       (every (lambda (item) (and (consp item) (typep (car item) '(or string symbol))
                                  (not (null (car item)))))
              value)))

(defun write-json-string (string out)
  (write-char #\" out)
  (loop for c across string
        for code = (char-code c)
        do (case c
             (#\" (write-string "\\\"" out))
             (#\\ (write-string "\\\\" out))
             (t (if (< code 32)
                    (format out "\\u~4,'0x" code)
                    (write-char c out)))))
  (write-char #\" out))

(defun write-json (value out)
  (cond ((or (eq value t) (eq value :true)) (write-string "true" out))
        ((eq value :false) (write-string "false" out))
        ((or (null value) (eq value :null)) (write-string "null" out))
        ((stringp value) (write-json-string value out))
        ((integerp value) (format out "~d" value))
        ((realp value)
         (let ((double (coerce value 'double-float)))
           (when (or (sb-ext:float-infinity-p double) (sb-ext:float-nan-p double))
             (error "~a has no JSON form" value))
           (let ((*read-default-float-format* 'double-float))
             (write-string (prin1-to-string double) out))))
        ((hash-table-p value)
         (write-char #\{ out)
         (let ((first t))
           (maphash (lambda (k v)
                      (unless first (write-char #\, out))
                      (setf first nil)
                      (write-json-string (json-key k) out)
                      (write-char #\: out)
                      (write-json v out))
                    value))
         (write-char #\} out))
        ((alistp value)
         (write-char #\{ out)
         (loop for (k . v) in value
               for first = t then nil
               do (unless first (write-char #\, out))
                  (write-json-string (json-key k) out)
                  (write-char #\: out)
                  (write-json v out))
         (write-char #\} out))
        ((or (listp value) (and (vectorp value) (not (stringp value))))
         (write-char #\[ out)
         (let ((first t))
           (map nil (lambda (item)
                      (unless first (write-char #\, out))
                      (setf first nil)
                      (write-json item out))
                value))
         (write-char #\] out))
        ((symbolp value) (write-json-string (string-downcase (symbol-name value)) out))
        (t (error "~s (a ~s) has no JSON form" value (type-of value)))))

(defun to-json (value)
  "VALUE as a JSON string (see the adapter's header for the mapping)."
  (with-output-to-string (out) (write-json value out)))

;;; The protocol

(defvar *requests*)
(defvar *replies*)

(defun fd-from-env (name default)
  (let ((value (sb-ext:posix-getenv name)))
    (or (and value (parse-integer value :junk-allowed t)) default)))

(defun close-on-exec (fd)
  "The handler's child processes must not inherit the protocol's pipes."
  (sb-alien:alien-funcall
   (sb-alien:extern-alien "fcntl" (function sb-alien:int sb-alien:int sb-alien:int sb-alien:int))
   fd 2 1))                             ; F_SETFD, FD_CLOEXEC

(defun send (header &rest fields)
  "Writes HEADER, each field's byte count, then the fields (octet vectors)."
  (let ((line (format nil "~a~{ ~d~}~%" header (mapcar #'length fields))))
    (write-sequence (utf8 line) *replies*)
    (dolist (field fields) (write-sequence field *replies*))
    (finish-output *replies*)))

(defun send-error (kind type message stack)
  (send kind (utf8 type) (utf8 message) (utf8 (format nil "~{~a~^~%~}" stack))))

(defun read-line-octets ()
  "The next header line without its newline, NIL at end of file."
  (let ((bytes (make-array 64 :element-type '(unsigned-byte 8) :adjustable t :fill-pointer 0)))
    (loop
      (let ((byte (read-byte *requests* nil nil)))
        (cond ((null byte)
               (if (zerop (length bytes))
                   (return nil)
                   (error "the request pipe closed in the middle of a header line")))
              ((= byte 10) (return (map 'string #'code-char bytes)))
              ((>= (length bytes) +max-header-line+)
               (error "a header line longer than ~d bytes" +max-header-line+))
              (t (vector-push-extend byte bytes)))))))

(defun read-exact (count)
  (let* ((data (make-array count :element-type '(unsigned-byte 8)))
         (read (read-sequence data *requests*)))
    (unless (= read count)
      (error "the request pipe closed in the middle of a message"))
    data))

(defun split (string char)
  (loop for start = 0 then (1+ end)
        for end = (position char string :start start)
        collect (subseq string start end)
        while end))

;;; The context

(defstruct (context (:constructor %make-context))
  aws-request-id deadline-ms invoked-function-arn trace-id client-context identity
  tenant-id function-name function-version memory-limit-in-mb log-group-name
  log-stream-name
  (%open-stream nil) (%streaming nil))

(defun remaining-time-ms (context)
  "Milliseconds left before the invocation's deadline (0 when past it)."
  (let ((now (multiple-value-bind (seconds microseconds) (sb-ext:get-time-of-day)
               (+ (* seconds 1000) (floor microseconds 1000)))))
    (max 0 (- (context-deadline-ms context) now))))

(defun stream (context &key (content-type "application/octet-stream") http)
  "Opens the invocation's response as a stream; returns the function that sends each chunk
(a string as UTF-8, or octets). With HTTP (statusCode, headers, cookies as a hash table or
alist) the stream is a Function URL response with that status and headers."
  (when (context-%streaming context) (error "the response is already streaming"))
  (setf (context-%streaming context) t)
  (funcall (context-%open-stream context) content-type http))

(defun json-or-nil (text)
  (and text (plusp (length text)) (ignore-errors (parse-json text))))

(defun make-context (block)
  (let ((fields (make-hash-table :test 'equal)))
    (dolist (line (split block #\Newline))
      (let ((at (position #\= line)))
        (when at (setf (gethash (subseq line 0 at) fields) (subseq line (1+ at))))))
    (flet ((field (name) (gethash name fields))
           (env (name) (sb-ext:posix-getenv name)))
      (%make-context
       :aws-request-id (field "LAMINA_REQUEST_ID")
       :deadline-ms (or (ignore-errors (parse-integer (field "LAMINA_DEADLINE_MS"))) 0)
       :invoked-function-arn (field "LAMINA_FUNCTION_ARN")
       :trace-id (field "LAMINA_TRACE_ID")
       :client-context (json-or-nil (field "LAMINA_CLIENT_CONTEXT"))
       :identity (json-or-nil (field "LAMINA_COGNITO_IDENTITY"))
       :tenant-id (field "LAMINA_TENANT_ID")
       :function-name (env "AWS_LAMBDA_FUNCTION_NAME")
       :function-version (env "AWS_LAMBDA_FUNCTION_VERSION")
       :memory-limit-in-mb (env "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
       :log-group-name (env "AWS_LAMBDA_LOG_GROUP_NAME")
       :log-stream-name (env "AWS_LAMBDA_LOG_STREAM_NAME")))))

;;; Errors

(defun error-type (condition)
  "The condition's type name as Lambda's errorType: visible ASCII, `:` for a package."
  (let* ((type (type-of condition))
         (name (if (symbolp type) (symbol-name type) (princ-to-string type)))
         (package (and (symbolp type) (symbol-package type))))
    (if (or (null package)
            (member package (list (find-package :common-lisp) (find-package :common-lisp-user)
                                  (find-package :lamina))))
        name
        (format nil "~a:~a" (package-name package) name))))

(defun describe-condition (condition)
  (or (ignore-errors (princ-to-string condition))
      (format nil "a ~a (its report failed)" (error-type condition))))

(defun backtrace-lines ()
  "SBCL's backtrace from here, one frame per line, without the frames of this handler and of
the adapter below the user's code."
  (let* ((text (with-output-to-string (out)
                 ;; Printed from CL-USER: the user's names plain, the adapter's LAMINA::.
                 (let ((*package* (find-package :common-lisp-user)))
                   (ignore-errors (sb-debug:print-backtrace :stream out :count 60)))))
         (lines (remove-if (lambda (l) (or (string= l "") (search "Backtrace for" l)))
                           (split text #\Newline)))
         ;; On top: this function, the HANDLER-BIND function and SIGNAL; at the bottom,
         ;; from CALL-USER down, the adapter and SBCL's script loader.
         (top (or (position-if (lambda (l) (not (or (search "LAMINA::" l) (search "%SIGNAL" l))))
                               lines)
                  0))
         (bottom (position-if (lambda (l) (search ": (LAMINA::CALL-USER" l)) lines :start top)))
    (mapcar (lambda (line) (string-left-trim " " line)) (subseq lines top bottom))))

(defun call-user (function &rest args)
  "Calls FUNCTION; returns (values T results...) or (values NIL condition stack)."
  (let (stack)
    (handler-case
        (handler-bind ((serious-condition (lambda (c) (declare (ignore c))
                                            (setf stack (backtrace-lines)))))
          (values-list (cons t (multiple-value-list (apply function args)))))
      (serious-condition (c) (values nil c stack)))))

;;; Streaming

(defun open-stream (id content-type http)
  (let ((prelude nil))
    (when http
      (setf content-type "application/vnd.awslambda.http-integration-response"
            prelude (concatenate '(vector (unsigned-byte 8))
                                 (utf8 (to-json http))
                                 (make-array 8 :element-type '(unsigned-byte 8) :initial-element 0))))
    (unless (and (<= 1 (length content-type) 256)
                 (every (lambda (c) (<= 32 (char-code c) 126)) content-type))
      (error "content-type must be visible ASCII and spaces, 1 to 256 bytes"))
    (send (format nil "STREAM ~a" id) (utf8 content-type))
    (when prelude (send (format nil "CHUNK ~a" id) prelude))
    (lambda (data)
      (let ((bytes (if (stringp data) (utf8 data) (coerce data '(vector (unsigned-byte 8))))))
        (when (plusp (length bytes))
          (send (format nil "CHUNK ~a" id) bytes))
        t))))

;;; Loading the handler and serving

(defun init-error (type message &optional stack)
  (send-error "INIT_ERROR" type message stack)
  (sb-ext:exit :code 1 :abort t))

(defun load-handler (source function-name)
  (unless (probe-file source)
    (init-error "Runtime.ImportModuleError" (format nil "cannot read ~a" source)))
  (multiple-value-bind (ok condition stack)
      (call-user (lambda ()
                   (let ((*package* (find-package :common-lisp-user)))
                     (load source))))
    (unless ok
      (init-error (if (typep condition 'reader-error)
                      "Runtime.UserCodeSyntaxError"
                      (error-type condition))
                  (format nil "cannot load ~a: ~a" source (describe-condition condition))
                  stack)))
  ;; Lisp reads names upcased: `handle` in _HANDLER is CL-USER::HANDLE.
  (let ((symbol (or (find-symbol (string-upcase function-name) :common-lisp-user)
                    (find-symbol function-name :common-lisp-user))))
    (unless (and symbol (fboundp symbol) (not (macro-function symbol)))
      (init-error "Runtime.HandlerNotFound"
                  (format nil "~a defines no function named ~a (in CL-USER)"
                          source (string-downcase function-name))))
    (symbol-function symbol)))

(defun encode-result (result)
  (cond ((stringp result) (utf8 result))
        ((typep result '(vector (unsigned-byte 8))) result)
        (t (utf8 (to-json result)))))

(defun serve-one (function id context-bytes event-bytes)
  (let* ((context (make-context (or (from-utf8 context-bytes) "")))
         (text (from-utf8 event-bytes))
         (event (or (and text (handler-case (parse-json text) (error () nil)))
                    event-bytes)))
    (setf (context-%open-stream context)
          (lambda (content-type http) (open-stream id content-type http)))
    (let ((trace (context-trace-id context)))
      (if trace
          (sb-posix-free-setenv "_X_AMZN_TRACE_ID" trace)
          (sb-posix-free-unsetenv "_X_AMZN_TRACE_ID")))
    (multiple-value-bind (ok result stack) (call-user function event context)
      (cond ((not ok)
             (send-error (format nil "ERROR ~a" id) (error-type result)
                         (describe-condition result) stack))
            ((context-%streaming context)
             (send (format nil "END ~a" id)))
            (t
             (multiple-value-bind (body condition) (ignore-errors (encode-result result))
               (if condition
                   (send-error (format nil "ERROR ~a" id) "Runtime.MarshalError"
                               (format nil "Unable to marshal response: ~a"
                                       (describe-condition condition))
                               nil)
                   (send (format nil "RESPONSE ~a" id) body))))))))

(defun sb-posix-free-setenv (name value)
  (sb-alien:alien-funcall
   (sb-alien:extern-alien "setenv" (function sb-alien:int sb-alien:c-string sb-alien:c-string sb-alien:int))
   name value 1))

(defun sb-posix-free-unsetenv (name)
  (sb-alien:alien-funcall
   (sb-alien:extern-alien "unsetenv" (function sb-alien:int sb-alien:c-string))
   name))

(defun main (args)
  (let ((in (fd-from-env "LAMINA_PROTOCOL_IN" 3))
        (out (fd-from-env "LAMINA_PROTOCOL_OUT" 4)))
    (close-on-exec in)
    (close-on-exec out)
    (setf *requests* (sb-sys:make-fd-stream in :input t :element-type '(unsigned-byte 8)
                                               :buffering :full)
          *replies* (sb-sys:make-fd-stream out :output t :element-type '(unsigned-byte 8)
                                               :buffering :full)))
  (unless (equal (sb-ext:posix-getenv "LAMINA_PROTOCOL") (princ-to-string +protocol-version+))
    (init-error "Runtime.ProtocolVersionMismatch"
                (format nil "this adapter speaks version ~d of the worker protocol, the bootstrap '~a'"
                        +protocol-version+ (or (sb-ext:posix-getenv "LAMINA_PROTOCOL") ""))))
  (unless (= (length args) 2)
    (init-error "Runtime.ImportModuleError"
                "usage: sbcl --script lisp.lisp FILE.lisp FUNCTION (run by lamina's bootstrap)"))
  (let ((function (load-handler (first args) (second args))))
    (send (format nil "READY ~d" +protocol-version+))
    (loop
      (let ((header (read-line-octets)))
        (unless header (return))        ; the bootstrap closed the pipe: shut down
        (let ((words (split header #\Space)))
          (unless (and (= (length words) 4) (string= (first words) "INVOKE"))
            (error "unexpected message '~a'" header))
          (destructuring-bind (id context-length event-length) (rest words)
            (let* ((context (read-exact (parse-integer context-length)))
                   (event (read-exact (parse-integer event-length))))
              (serve-one function id context event)))))
      ;; What the handler printed is its log: out before the next event.
      (finish-output *standard-output*)
      (finish-output *error-output*))))

;; With --script, *posix-argv* is ("sbcl" FILE FUNCTION): the script's own name is taken out.
(main (rest sb-ext:*posix-argv*))
