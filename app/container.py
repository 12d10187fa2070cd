"""The one wiring function: pool, Redis, repositories and services from plain settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis

from app.auth.supabase import SupabaseAuth
from app.auth.verifier import JwksCache, TokenVerifier
from app.config import PROJECT_ROOT, Settings
from app.controllers.socket_gateway import FlaskSocketGateway
from app.repositories.ai_answers_repo import AiAnswersRepository
from app.repositories.auth_repo import AuthRepository
from app.repositories.base import Database, create_pool, create_redis
from app.repositories.canvas_library_repo import CanvasLibraryRepository
from app.repositories.generation_repo import GenerationRepository
from app.repositories.interaction_repo import InteractionRepository
from app.repositories.migration_repo import MigrationRepository
from app.repositories.pending_charge_repo import PendingChargeRepository
from app.repositories.profile_repo import ProfileRepository
from app.repositories.question_repo import QuestionRepository
from app.repositories.session_repo import SessionRepository
from app.repositories.step_feedback_repo import StepFeedbackRepository
from app.repositories.study_repo import StudyRepository
from app.services.account_service import AccountService
from app.services.ai_service import AIService, build_client
from app.services.answer_service import AnswerService
from app.services.auth_service import AuthService, DevTokenService, LogoutService
from app.services.connection_service import ConnectionService
from app.services.credit_service import CreditService
from app.services.feedback_service import FeedbackService, ReviewRules
from app.services.generation_service import GenerationService
from app.services.health_service import HealthService
from app.services.lesson_service import LessonService
from app.services.migration_service import MigrationService
from app.services.question_bank_service import QuestionBankService
from app.services.question_service import QuestionService
from app.services.seed_service import SeedService
from app.services.session_service import SessionService
from app.services.step_checks import check_generated_step
from app.services.streaming_service import StreamingService
from app.services.study_service import StudyService
from app.services.voice_service import VoiceService

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


@dataclass
class Container:
    settings: Settings
    db: Database
    redis: redis.Redis
    sessions: SessionRepository
    questions: QuestionRepository
    ai_answers: AiAnswersRepository
    canvas_library: CanvasLibraryRepository
    migrations: MigrationService
    answers: AnswerService
    health: HealthService
    auth: AuthService | None
    dev_tokens: DevTokenService | None
    logout: LogoutService
    live_sessions: SessionService
    connections: ConnectionService
    streaming: StreamingService
    accounts: AccountService
    credits: CreditService
    question_bank: QuestionBankService
    study: StudyService
    questions_pipeline: QuestionService
    seed: SeedService
    feedback: FeedbackService
    ai: AIService
    generation: GenerationService
    lessons: LessonService
    voice: VoiceService

    supabase_auth: SupabaseAuth | None = None

    def close(self) -> None:
        self.db.close()
        self.redis.close()
        if self.supabase_auth is not None:
            self.supabase_auth.close()


def build_container(settings: Settings, *, migrations_dir: Path = MIGRATIONS_DIR) -> Container:
    if not settings.database_url or not settings.redis_url:
        raise ValueError("build_container needs DATABASE_URL and REDIS_URL resolved")
    db = Database(
        create_pool(
            settings.database_url,
            min_size=settings.database_pool_min,
            max_size=settings.database_pool_max,
            timeout=settings.database_pool_timeout,
            connect_timeout=settings.database_connect_timeout,
            statement_timeout_ms=settings.database_statement_timeout_ms,
            prepare_threshold=settings.database_prepare_threshold,
        ),
        # Prepared statements off means a transaction-mode pooler is in between.
        transaction_statement_timeout_ms=(
            settings.database_statement_timeout_ms
            if settings.database_prepare_threshold is None
            else 0
        ),
    )
    redis_client = create_redis(
        settings.redis_url,
        socket_timeout=settings.redis_socket_timeout,
        max_connections=settings.redis_pool_size,
    )
    sessions = SessionRepository(redis_client)
    ai_answers = AiAnswersRepository()
    auth_repo = AuthRepository()
    profiles = ProfileRepository()
    questions = QuestionRepository()
    study = StudyRepository()
    interactions = InteractionRepository()
    step_feedback = StepFeedbackRepository()
    canvas_library = CanvasLibraryRepository()
    accounts = AccountService(db=db, profiles=profiles)
    credits = CreditService(db=db, profiles=profiles)
    supabase_auth = (
        SupabaseAuth(
            url=settings.supabase_url,
            anon_key=settings.supabase_key,
            service_key=settings.supabase_service_key,
            timeout=settings.jwks_fetch_timeout,
        )
        if settings.supabase_url and settings.supabase_key
        else None
    )
    verifier = build_verifier(settings, supabase_auth)
    auth = (
        AuthService(
            verifier=verifier,
            db=db,
            auth_repo=auth_repo,
            sessions=sessions,
            session_cache_seconds=settings.auth_session_cache_seconds,
        )
        if verifier
        else None
    )
    live_sessions = SessionService(sessions=sessions)
    answers = AnswerService(
        db=db,
        answers=ai_answers,
        sessions=sessions,
        step_feedback=step_feedback,
        bank=questions,
    )
    gateway = FlaskSocketGateway()
    generation_repo = GenerationRepository(redis_client)
    ai = AIService(
        client=build_client(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            timeout=settings.openai_timeout,
            max_retries=settings.openai_max_retries,
        ),
        model=settings.openai_model,
        max_tokens=settings.openai_max_tokens,
        breaker=generation_repo,
        moderation=settings.openai_moderation,
        transcribe_model=settings.openai_transcribe_model,
        price_per_million=(settings.openai_price_input, settings.openai_price_output),
        # On a native thread: a step's checks take up to a second of CPU.
        check_step=lambda *args: gateway.run_blocking(check_generated_step, *args),
    )
    generation = GenerationService(
        ai=ai,
        drafts=generation_repo,
        db=db,
        answers=ai_answers,
        cache=sessions,
        runtime=gateway,
        lock_lease_seconds=settings.ai_lock_lease_seconds,
    )
    pipeline = QuestionService(
        db=db,
        answers=ai_answers,
        interactions=interactions,
        bank=questions,
        sessions=sessions,
        canvas=canvas_library,
        accounts=accounts,
        credits=credits,
        rate_limit=settings.rate_limit_questions,
        rate_window=settings.rate_limit_window,
        max_question_length=settings.max_question_length,
        generation=generation,
        pending=PendingChargeRepository(redis_client),
    )
    dev_tokens = (
        DevTokenService(
            db=db,
            auth_repo=auth_repo,
            jwt_secret=settings.supabase_jwt_secret,
            issuer=settings.supabase_jwt_issuer,
        )
        if settings.local_auth and settings.supabase_jwt_secret
        else None
    )
    streaming = StreamingService(
        sessions=live_sessions,
        session_repo=sessions,
        runtime=gateway,
        chunk_interval=settings.stream_chunk_interval_ms / 1000,
        chunk_chars=settings.stream_chunk_chars,
        complete_interaction=pipeline.mark_completed,
        refund_interaction=pipeline.refund_interaction,
        drafts=generation,
    )
    lessons = LessonService(questions=pipeline, streaming=streaming)
    return Container(
        settings=settings,
        db=db,
        redis=redis_client,
        sessions=sessions,
        questions=questions,
        ai_answers=ai_answers,
        canvas_library=canvas_library,
        migrations=MigrationService(
            db=db,
            repo=MigrationRepository(),
            migrations_dir=migrations_dir,
            local_auth=bool(settings.local_auth),
        ),
        answers=answers,
        health=HealthService(db=db, redis_client=redis_client),
        auth=auth,
        dev_tokens=dev_tokens,
        logout=LogoutService(
            sessions=sessions,
            dev_tokens=dev_tokens,
            supabase=supabase_auth,
            sockets=gateway,
        ),
        live_sessions=live_sessions,
        connections=ConnectionService(
            auth=auth,
            sessions=live_sessions,
            session_repo=sessions,
            max_per_ip=settings.max_connections_per_ip,
            sockets=gateway,
        ),
        streaming=streaming,
        supabase_auth=supabase_auth,
        accounts=accounts,
        credits=credits,
        question_bank=QuestionBankService(
            db=db, questions=questions, study=study, profiles=profiles
        ),
        study=StudyService(db=db, study=study),
        questions_pipeline=pipeline,
        seed=SeedService(db=db, questions=questions, answers=answers, root=PROJECT_ROOT / "seed"),
        feedback=FeedbackService(
            db=db,
            interactions=interactions,
            answers=ai_answers,
            steps=step_feedback,
            rules=ReviewRules(
                step_confusions=settings.review_step_confusions,
                step_ratio=settings.review_step_ratio,
                min_votes=settings.review_min_votes,
                min_helpful_ratio=settings.review_min_helpful_ratio,
            ),
        ),
        ai=ai,
        generation=generation,
        lessons=lessons,
        voice=VoiceService(
            recordings=sessions,
            streaming=streaming,
            lessons=lessons,
            ai=ai,
            credits=credits,
            accounts=accounts,
            max_audio_bytes=settings.voice_max_audio_bytes,
            max_message_bytes=settings.socket_max_message_bytes,
            confidence_threshold=settings.voice_confidence_threshold,
            transcription_credits=settings.voice_transcription_credits,
            rate_limit=settings.rate_limit_questions,
            rate_window=settings.rate_limit_window,
            run_blocking=gateway.run_blocking,
            max_open_recordings=settings.voice_max_open_recordings,
        ),
    )


def build_verifier(
    settings: Settings, supabase_auth: SupabaseAuth | None = None
) -> TokenVerifier | None:
    jwks = (
        JwksCache(
            settings.supabase_jwks_url,
            fetch_timeout=settings.jwks_fetch_timeout,
            throttle_seconds=settings.jwks_refresh_throttle_seconds,
        )
        if settings.supabase_jwks_url
        else None
    )
    if not settings.supabase_jwt_secret and jwks is None and supabase_auth is None:
        return None
    return TokenVerifier(
        jwt_secret=settings.supabase_jwt_secret,
        jwks=jwks,
        issuer=settings.supabase_jwt_issuer,
        allow_anonymous=settings.auth_allow_anonymous,
        remote=supabase_auth,
    )
