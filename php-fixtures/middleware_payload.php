<?php
// Prints serialize() of a queued command carrying Laravel's job middleware in its `middleware`
// property, as `dispatch($job)->through([...])` stores it. The stand-in classes declare the
// properties (names, visibility, defaults, __sleep) of laravel/framework 12.x's
// Illuminate\Queue\Middleware classes: only their serialized shape matters here.

namespace Illuminate\Queue\Middleware {
    class RateLimited {
        protected $limiter = 'container';
        protected $limiterName;
        public $releaseAfter;
        public $shouldRelease = true;
        public function __construct($limiterName) { $this->limiterName = $limiterName; }
        public function dontRelease() { $this->shouldRelease = false; return $this; }
        public function __sleep() { return ['limiterName', 'shouldRelease']; }
    }
    class RateLimitedWithRedis extends RateLimited {
        protected $connectionName = null;
        public $decaysAt = [];
        public function __construct($limiterName, ?string $connection = null) {
            parent::__construct($limiterName);
            $this->connectionName = $connection;
        }
        public function __sleep() { return array_merge(parent::__sleep(), ['connectionName']); }
    }
    class WithoutOverlapping {
        public $key; public $releaseAfter; public $expiresAfter;
        public $prefix = 'laravel-queue-overlap:'; public $shareKey = false;
        public function __construct($key = '', $releaseAfter = 0, $expiresAfter = 0) {
            $this->key = $key; $this->releaseAfter = $releaseAfter; $this->expiresAfter = $expiresAfter;
        }
    }
    class ThrottlesExceptions {
        protected $key; protected $byJob = false; protected $maxAttempts; protected $decaySeconds;
        protected $retryAfterMinutes = 0; protected $reportCallback; protected $whenCallback;
        protected array $deleteWhenCallbacks = []; protected array $failWhenCallbacks = [];
        protected $prefix = 'laravel_throttles_exceptions:'; protected $limiter;
        public function __construct($maxAttempts = 10, $decaySeconds = 600) {
            $this->maxAttempts = $maxAttempts; $this->decaySeconds = $decaySeconds;
        }
        public function backoff($backoff) { $this->retryAfterMinutes = $backoff; return $this; }
        public function by($key) { $this->key = $key; return $this; }
    }
    class ThrottlesExceptionsWithRedis extends ThrottlesExceptions { protected $redis; }
    class Skip { public function __construct(protected bool $skip = false) {} }
    class SkipIfBatchCancelled {}
}

namespace App\Jobs {
    class Backup {
        public $middleware = [];
        public function __construct(public int $n) {}
    }
}

namespace {
    use Illuminate\Queue\Middleware as M;

    $job = new App\Jobs\Backup(7);
    $job->middleware = [
        (new M\RateLimited('backups'))->dontRelease(),
        new M\RateLimitedWithRedis('backups', 'limits'),
        (function () { $m = new M\WithoutOverlapping('import-7', null, 180); $m->shareKey = true; return $m; })(),
        (new M\ThrottlesExceptions(3, 120))->backoff(2)->by('svc'),
        new M\ThrottlesExceptionsWithRedis(),
        new M\Skip(true),
        new M\SkipIfBatchCancelled(),
    ];
    echo serialize($job);
}
