# A Perl handler: _HANDLER=handler.handle
#
# lamina's Perl adapter loads this file once, then calls handle($event, $context) for each
# event. $event is the decoded JSON (JSON::PP); a returned reference is sent back as JSON.
# die fails the invocation: the error type is the exception's class ("Error" for a string).
use strict;
use warnings;

# An exception class: its name becomes the errorType Lambda reports.
package InvalidEvent {
    sub new { my ($class, $message) = @_; return bless { message => $message }, $class }
    sub message { $_[0]{message} }
}

sub handle {
    my ($event, $context) = @_;
    my $name = ref $event eq 'HASH' ? $event->{name} : undef;
    printf STDERR "request %s: greeting '%s'\n", $context->aws_request_id, $name // '';
    die InvalidEvent->new('the event needs a "name", e.g. {"name":"Ada"}')
        unless defined $name && length $name;
    return { message => "Hello, $name!" };
}

1;
