#!/usr/bin/env perl
# A small HTTP/1.1 server on Perl's core modules only: no Lambda code in it. Run it locally
# with `PORT=8080 perl app.pl` and curl http://127.0.0.1:8080/hello?name=Ada; on Lambda (or
# `cargo lamina serve`) the runtime layer's `http:` convention forwards each HTTP event to it.
use strict;
use warnings;
use IO::Socket::INET;

my $port = $ENV{PORT} // 8080;
my $server = IO::Socket::INET->new(
    LocalAddr => '127.0.0.1', LocalPort => $port, Listen => 16, ReuseAddr => 1,
) or die "cannot listen on 127.0.0.1:$port: $!\n";
$| = 1;
print "sample-web-perl listening on $port\n";

sub decode { my ($text) = @_; $text =~ tr/+/ /; $text =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge; $text }

sub respond {
    my ($client, $status, $type, $body, @headers) = @_;
    my $reason = { 200 => 'OK', 404 => 'Not Found', 405 => 'Method Not Allowed' }->{$status} // 'OK';
    print {$client} "HTTP/1.1 $status $reason\r\nContent-Type: $type\r\n",
        "Content-Length: ", length($body), "\r\n", map({ "$_\r\n" } @headers), "\r\n", $body;
}

while (my $client = $server->accept) {
    binmode $client;
    # One connection, several requests (keep-alive), until the client closes it.
    while (defined(my $request = <$client>)) {
        my ($method, $target) = $request =~ m{^(\S+) (\S+) HTTP/1\.[01]\r?\n\z} or last;
        my %header;
        while (defined(my $line = <$client>)) {
            last if $line =~ /^\r?\n\z/;
            $header{lc $1} = $2 if $line =~ /^([^:]+):\s*(.*?)\r?\n\z/;
        }
        my $body = '';
        read($client, $body, $header{'content-length'}) if $header{'content-length'};
        my ($path, $query) = split /\?/, $target, 2;
        my %param = map { my ($k, $v) = split /=/, $_, 2; (decode($k) => decode($v // '')) }
            grep { length } split /&/, $query // '';
        if ($method eq 'GET' && $path eq '/hello') {
            my $name = $param{name} // 'world';
            respond($client, 200, 'text/plain; charset=utf-8', "Hello, $name!", 'Set-Cookie: greeted=yes; Path=/');
        } elsif ($method eq 'GET' && $path eq '/cookie') {
            respond($client, 200, 'text/plain', 'cookie: ' . ($header{cookie} // ''),
                'Set-Cookie: visited=yes; Path=/', 'Set-Cookie: theme=dark');
        } elsif ($method eq 'GET' && $path eq '/big') {
            respond($client, 200, 'text/plain', '0123456789abcdef' x (3 * 1024 * 1024 / 16));
        } elsif ($method eq 'POST' && $path eq '/echo') {
            respond($client, 200, $header{'content-type'} // 'application/octet-stream', $body);
        } elsif ($method eq 'POST' && $path eq '/events') {
            respond($client, 200, 'application/json', qq({"received":$body}));
        } else {
            respond($client, 404, 'text/plain', 'sample-web-perl has no such page');
        }
    }
    close $client;
}
