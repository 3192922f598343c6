# lamina's Perl adapter: serves a FILE.FUNCTION handler as a worker (see PROTOCOL.md).
#
# The bootstrap runs `perl perl.pl /var/task/FILE.pl FUNCTION` with the protocol on the
# descriptors named by LAMINA_PROTOCOL_IN / LAMINA_PROTOCOL_OUT. The file is loaded once;
# main::FUNCTION($event, $context) is called per invocation.
#
# * $event: the decoded JSON (JSON::PP) when the event is UTF-8 JSON, else the raw bytes.
# * result: a reference (hash, array, JSON::PP boolean, object with TO_JSON) is sent as JSON;
#   undef as `null`; a plain scalar as its bytes (a character string as UTF-8).
# * die: an invocation error; the type is the exception's class (`Error` for a plain string),
#   with the message and the stack; the worker keeps serving.
# * streaming: `my $write = $context->stream(content_type => 'text/plain')` (or
#   `http => { statusCode => 200, headers => {...}, cookies => [...] }` for a Function URL
#   response) returns a callback; each `$write->($bytes)` is sent at once as a chunk of the
#   response (a character string as UTF-8). The handler's return value is then ignored, and a
#   die after the stream started ends it with the error.
use strict;
use warnings;

use Fcntl qw(F_GETFD F_SETFD FD_CLOEXEC);
use JSON::PP ();
use Scalar::Util qw(blessed);
use Time::HiRes ();

package Lamina::Context {
    # The invocation context, with the method names of AWS's Perl and Python contexts.
    sub new {
        my ($class, %fields) = @_;
        my $json = JSON::PP->new->utf8->allow_nonref;
        my $decode = sub {
            my $text = shift;
            return undef unless defined $text && length $text;
            my $value = eval { $json->decode($text) };
            return $value;
        };
        return bless {
            aws_request_id       => $fields{LAMINA_REQUEST_ID},
            deadline_ms          => $fields{LAMINA_DEADLINE_MS} // 0,
            invoked_function_arn => $fields{LAMINA_FUNCTION_ARN},
            trace_id             => $fields{LAMINA_TRACE_ID},
            client_context       => $decode->($fields{LAMINA_CLIENT_CONTEXT}),
            identity             => $decode->($fields{LAMINA_COGNITO_IDENTITY}),
            tenant_id            => $fields{LAMINA_TENANT_ID},
            function_name        => $ENV{AWS_LAMBDA_FUNCTION_NAME},
            function_version     => $ENV{AWS_LAMBDA_FUNCTION_VERSION},
            memory_limit_in_mb   => $ENV{AWS_LAMBDA_FUNCTION_MEMORY_SIZE},
            log_group_name       => $ENV{AWS_LAMBDA_LOG_GROUP_NAME},
            log_stream_name      => $ENV{AWS_LAMBDA_LOG_STREAM_NAME},
        }, $class;
    }
    for my $field (qw(aws_request_id deadline_ms invoked_function_arn trace_id client_context
                      identity tenant_id function_name function_version memory_limit_in_mb
                      log_group_name log_stream_name)) {
        no strict 'refs';
        *{$field} = sub { $_[0]{$field} };
    }
    # Opens the invocation's response as a stream and returns the write callback.
    sub stream {
        my ($self, %options) = @_;
        die "the response is already streaming\n" if $self->{_streaming};
        $self->{_streaming} = 1;
        return $self->{_open_stream}->(%options);
    }
    sub streaming { $_[0]{_streaming} }
    sub get_remaining_time_in_millis {
        my $self = shift;
        my $left = $self->{deadline_ms} - int(Time::HiRes::time() * 1000);
        return $left > 0 ? $left : 0;
    }
}

package main;

my $MAX_HEADER_LINE = 1024;
my $PROTOCOL_VERSION = '2';
my $JSON = JSON::PP->new->utf8->allow_nonref->canonical->allow_blessed->convert_blessed;

my ($source, $function_name) = @ARGV;
die "usage: perl.pl FILE.pl FUNCTION (run by lamina's bootstrap)\n"
    unless defined $function_name;
# `do FILE` searches @INC for a relative path; the handler is always in the task root.
$source = "./$source" unless $source =~ m{^/};

my $in_fd = $ENV{LAMINA_PROTOCOL_IN} // 3;
my $out_fd = $ENV{LAMINA_PROTOCOL_OUT} // 4;
open(my $requests, '<&=', $in_fd) or die "lamina perl adapter: cannot open fd $in_fd: $!\n";
open(my $replies, '>&=', $out_fd) or die "lamina perl adapter: cannot open fd $out_fd: $!\n";
binmode $requests;
binmode $replies;
# The handler's own child processes must not inherit the protocol.
for my $handle ($requests, $replies) {
    my $flags = fcntl($handle, F_GETFD, 0) // 0;
    fcntl($handle, F_SETFD, $flags | FD_CLOEXEC);
}
$replies->autoflush(1);
# Whatever the handler prints is its log: line by line, as it happens.
STDOUT->autoflush(1);
STDERR->autoflush(1);

sub bytes_of {
    my $text = shift // '';
    utf8::encode($text) if utf8::is_utf8($text);
    return $text;
}

# $kind is INIT_ERROR, or "ERROR <id>" echoing the INVOKE's id.
sub send_error {
    my ($kind, $type, $message, @stack) = @_;
    my @fields = map { bytes_of($_) } ($type, $message, join("\n", @stack));
    print {$replies} join(' ', $kind, map { length } @fields) . "\n" . join('', @fields);
}

sub send_response {
    my ($id, $body) = @_;
    print {$replies} "RESPONSE $id " . length($body) . "\n" . $body;
}

sub send_field {
    my ($head, $field) = @_;
    print {$replies} "$head " . length($field) . "\n" . $field;
}

# Sends STREAM for invocation $id and returns the callback that sends each CHUNK.
sub open_stream {
    my ($id, %options) = @_;
    my $content_type = $options{content_type} // 'application/octet-stream';
    my $prelude = '';
    if (my $http = $options{http}) {
        $content_type = 'application/vnd.awslambda.http-integration-response';
        $prelude = $JSON->encode($http) . ("\0" x 8);
    }
    die "content_type must be visible ASCII and spaces\n" unless $content_type =~ /\A[\x20-\x7e]{1,256}\z/;
    send_field("STREAM $id", $content_type);
    send_field("CHUNK $id", $prelude) if length $prelude;
    return sub {
        my $chunk = bytes_of(join('', @_));
        send_field("CHUNK $id", $chunk) if length $chunk;
        return 1;
    };
}

sub read_exact {
    my $length = shift;
    my $data = '';
    while (length($data) < $length) {
        my $read = read($requests, $data, $length - length($data), length($data));
        die "lamina perl adapter: the request pipe closed in the middle of a message\n"
            unless $read;
    }
    return $data;
}

# Stack lines of the code that called die, innermost first, without this adapter's frames:
# `main::handle at /var/task/handler.pl line 19`. caller($level) gives a call site and the
# sub called there; the sub the site is *in* is the one called one level further out.
sub stack_here {
    my @lines;
    for (my $level = 1; my @frame = caller($level); $level++) {
        my (undef, $file, $line) = @frame;
        last if $file eq __FILE__;
        my $sub = (caller($level + 1))[3] // 'main';
        push @lines, "$sub at $file line $line";
    }
    return @lines;
}

sub describe_error {
    my $error = shift;
    if (blessed($error)) {
        my $message = $error->can('message') ? $error->message
                    : $error->can('as_string') ? $error->as_string
                    : "$error";
        return (ref($error), "$message");
    }
    my $message = "$error";
    chomp $message;
    return ('Error', $message);
}

if (($ENV{LAMINA_PROTOCOL} // '') ne $PROTOCOL_VERSION) {
    send_error('INIT_ERROR', 'Runtime.ProtocolVersionMismatch',
               "this adapter speaks version $PROTOCOL_VERSION of the worker protocol, the bootstrap '"
               . ($ENV{LAMINA_PROTOCOL} // '') . "'");
    exit 1;
}

# Load the handler file once.
{
    local $@;
    unless (-r $source) {
        send_error('INIT_ERROR', 'Runtime.ImportModuleError', "cannot read $source");
        exit 1;
    }
    my @stack;
    my $loaded = eval {
        local $SIG{__DIE__} = sub { @stack = stack_here() };
        package main;
        do $source;
        die $@ if $@;
        1;
    };
    unless ($loaded) {
        my ($type, $message) = describe_error($@);
        if ($type eq 'Error') {
            $type = $message =~ /syntax error|^Missing right|^Can't find string terminator/m
                ? 'Runtime.UserCodeSyntaxError' : 'Runtime.ImportModuleError';
        }
        send_error('INIT_ERROR', $type, "cannot load $source: $message", @stack);
        exit 1;
    }
}
my $function = main->can($function_name);
unless ($function) {
    send_error('INIT_ERROR', 'Runtime.HandlerNotFound',
               "$source defines no sub named '$function_name' (in package main)");
    exit 1;
}
print {$replies} "READY $PROTOCOL_VERSION\n";

my @CONTEXT_NAMES = qw(LAMINA_REQUEST_ID LAMINA_DEADLINE_MS LAMINA_FUNCTION_ARN LAMINA_TRACE_ID
                       LAMINA_CLIENT_CONTEXT LAMINA_COGNITO_IDENTITY LAMINA_TENANT_ID);

while (1) {
    my $header = readline($requests);
    last unless defined $header;  # the bootstrap closed the pipe: shut down
    die "lamina perl adapter: a header line longer than $MAX_HEADER_LINE bytes\n"
        if length($header) > $MAX_HEADER_LINE;
    chomp $header;
    my ($kind, $id, $context_length, $event_length, $extra) = split / /, $header;
    die "lamina perl adapter: unexpected message '$header'\n"
        unless $kind eq 'INVOKE' && defined $event_length && !defined $extra;
    my $block = read_exact($context_length);
    my $event = read_exact($event_length);
    my %fields = map { split /=/, $_, 2 } grep { /=/ } split /\n/, $block;
    my $context = Lamina::Context->new(%fields);
    $context->{_open_stream} = sub { open_stream($id, @_) };
    if (defined $fields{LAMINA_TRACE_ID}) {
        $ENV{_X_AMZN_TRACE_ID} = $fields{LAMINA_TRACE_ID};
    } else {
        delete $ENV{_X_AMZN_TRACE_ID};
    }

    my $input = eval { $JSON->decode($event) };
    $input = $event if $@;

    my (@stack, $result);
    my $ok = eval {
        local $SIG{__DIE__} = sub { @stack = stack_here() };
        $result = $function->($input, $context);
        1;
    };
    unless ($ok) {
        my ($type, $message) = describe_error($@);
        send_error("ERROR $id", $type, $message, @stack);
        next;
    }
    if ($context->streaming) {
        print {$replies} "END $id\n";
        next;
    }
    my $body = eval {
        !defined $result ? 'null'
            : ref($result) ? $JSON->encode($result)
            : bytes_of($result);
    };
    unless (defined $body) {
        my (undef, $message) = describe_error($@);
        send_error("ERROR $id", 'Runtime.MarshalError', "Unable to marshal response: $message");
        next;
    }
    send_response($id, $body);
}
